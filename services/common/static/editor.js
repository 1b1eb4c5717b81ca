/* The editors' desk: the article and static page editor, the revisions page and the static
   pages list (services/articles/desk_editor.py renders them). The body is edited with the
   vendored Jodit (MIT, /static/vendor/jodit-VERSION/); everything is saved through the
   JSON API with fetch and the session cookie. No work is lost: a draft saves itself
   AUTOSAVE seconds after a change and when the page is hidden or left; a save refused for
   an ended session renews it (session.js) or asks for the password in place, then saves
   what was typed; a save over a newer version shows both and lets the person choose. */
(function () {
  "use strict";

  var JSON_HEADERS = { "Content-Type": "application/json", Accept: "application/json" };
  var FLASH_KEY = "bantin-editor-flash";
  // Jodit's labels in Vietnamese (it ships no vi language file).
  var VI = {
    "Type something": "Nhập nội dung bài viết…",
    Bold: "In đậm",
    Italic: "In nghiêng",
    Underline: "Gạch chân",
    "Insert Unordered List": "Danh sách dấu chấm",
    "Insert Ordered List": "Danh sách đánh số",
    "Insert link": "Chèn liên kết",
    "Insert table": "Chèn bảng",
    "Insert format block": "Kiểu đoạn",
    Undo: "Hoàn tác",
    Redo: "Làm lại",
    Paragraph: "Đoạn văn",
    Normal: "Đoạn văn",
    Quote: "Trích dẫn",
    URL: "Địa chỉ (URL)",
    Text: "Chữ hiển thị",
    Title: "Tiêu đề",
    Insert: "Chèn",
    Update: "Cập nhật",
    Unlink: "Bỏ liên kết",
    Edit: "Sửa",
    Delete: "Xoá",
    Cancel: "Huỷ",
    Apply: "Áp dụng",
    Ok: "Đồng ý",
    Yes: "Có",
    No: "Không",
    Close: "Đóng",
    "Open in new tab": "Mở trong thẻ mới",
    "No follow": "Không theo dõi (nofollow)",
    "Image properties": "Thuộc tính ảnh",
    Alternative: "Mô tả ảnh",
    "Alternative text": "Mô tả ảnh",
    Src: "Nguồn ảnh",
    Width: "Rộng",
    Height: "Cao",
    "Add column before": "Thêm cột bên trái",
    "Add column after": "Thêm cột bên phải",
    "Add row above": "Thêm hàng phía trên",
    "Add row below": "Thêm hàng phía dưới",
    "Delete table": "Xoá bảng",
    "Delete row": "Xoá hàng",
    "Delete column": "Xoá cột",
    "Empty cell": "Xoá nội dung ô",
    Merge: "Gộp ô",
    Split: "Tách ô",
    "Split vertical": "Tách theo chiều dọc",
    "Split horizontal": "Tách theo chiều ngang",
    Source: "Mã HTML",
    "Change mode": "Đổi chế độ",
    "Chars: %d": "Ký tự: %d",
    "Words: %d": "Từ: %d",
    "Paste as HTML": "Dán dạng HTML",
    "Keep": "Giữ",
    "Clean": "Làm sạch",
    "Insert only Text": "Chỉ chèn chữ",
    "Insert as Text": "Chèn dạng chữ",
    "Word Paste Detected": "Phát hiện nội dung dán từ Word",
    "The pasted content is coming from a Microsoft Word/Excel document. Do you want to keep the format or clean it up?":
      "Nội dung dán đến từ Word/Excel. Giữ định dạng hay làm sạch?",
    "Your code is similar to HTML. Keep as HTML?": "Nội dung có dạng HTML. Giữ dạng HTML?",
    "Insert image": "Chèn ảnh",
    "Insert Image": "Chèn ảnh",
    "Select all": "Chọn tất cả",
    Heading: "Tiêu đề",
  };

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  var statusLine = $("#save-status");
  function say(text) {
    if (statusLine) statusLine.textContent = text;
  }

  function clock() {
    return new Date().toLocaleTimeString("vi-VN", {
      hour: "2-digit",
      minute: "2-digit",
      hour12: false,
      timeZone: "Asia/Ho_Chi_Minh",
    });
  }

  // A message that survives the reload after a workflow step.
  function flashThenReload(text, location) {
    sessionStorage.setItem(FLASH_KEY, text);
    if (location) window.location.assign(location);
    else window.location.reload();
  }
  var flashed = sessionStorage.getItem(FLASH_KEY);
  if (flashed) {
    sessionStorage.removeItem(FLASH_KEY);
    say(flashed);
  }

  async function problemText(response) {
    try {
      var problem = await response.json();
      var fields = (problem.errors || []).map(function (e) {
        return e.message;
      });
      return [problem.detail].concat(fields).filter(Boolean).join(" ");
    } catch (e) {
      return "Máy chủ trả lời lỗi " + response.status + ".";
    }
  }

  // --- the session: renew it, or ask for the password in place ----------------------------

  async function renewed() {
    var session = window.BantinSession;
    if (!session || typeof session.renew !== "function") return false;
    try {
      return (await session.renew()) === true;
    } catch (e) {
      return false;
    }
  }

  function askPassword() {
    var dialog = $("#session-dialog");
    if (!dialog) return Promise.resolve(false);
    var form = $("#session-form");
    var error = $("#session-error");
    error.textContent = "";
    return new Promise(function (resolve) {
      function finish(result) {
        form.removeEventListener("submit", onSubmit);
        later.removeEventListener("click", onLater);
        dialog.removeEventListener("cancel", onLater);
        if (dialog.open) dialog.close();
        resolve(result);
      }
      async function onSubmit(event) {
        event.preventDefault();
        var response = await fetch("/api/v1/auth/session", {
          method: "POST",
          credentials: "same-origin",
          headers: JSON_HEADERS,
          body: JSON.stringify({
            username: form.elements.username.value.trim(),
            password: form.elements.password.value,
          }),
        });
        if (response.ok) {
          form.elements.password.value = "";
          finish(true);
          return;
        }
        error.textContent =
          response.status === 401
            ? "Sai tên đăng nhập hoặc mật khẩu."
            : await problemText(response);
      }
      function onLater(event) {
        event.preventDefault();
        finish(false);
      }
      var later = $("[data-close]", dialog);
      form.addEventListener("submit", onSubmit);
      later.addEventListener("click", onLater);
      dialog.addEventListener("cancel", onLater);
      dialog.showModal();
      form.elements.username.focus();
    });
  }

  // fetch with the cookie; a 401 renews the session or signs in again, then tries once more.
  async function send(url, options) {
    var request = Object.assign({ credentials: "same-origin" }, options);
    var response = await fetch(url, request);
    if (response.status !== 401 || request.keepalive) return response;
    if ((await renewed()) || (await askPassword())) return fetch(url, request);
    return response;
  }

  // --- uploads -----------------------------------------------------------------------------

  async function uploadImage(file) {
    var data = new FormData();
    data.append("file", file);
    say("Đang tải ảnh lên…");
    var response = await send("/api/v1/images", { method: "POST", body: data });
    if (!response.ok) {
      say("Không tải được ảnh: " + (await problemText(response)));
      return null;
    }
    say("Đã tải ảnh lên.");
    return response.json();
  }

  // The variant of an uploaded image in its own type (not WebP), else its original.
  function variantUrl(image, name) {
    var variants = image.variants || [];
    var own = variants.filter(function (v) {
      return v.name === name && v.content_type !== "image/webp";
    });
    return own.length ? own[0].url : image.url;
  }

  // ARIA slips of Jodit's markup, mended as it appears: its toolbar items (role
  // "listitem") also carry the pressed state of the button inside them; its popups have
  // the role "popup", which does not exist; its forms and their blocks have the role
  // "list" without items; its form fields have a visible label that is not their label.
  // The link form's "class name" is hidden: the sanitiser drops classes anyway.
  var SLIPS = "[role=listitem][aria-pressed], [role=popup], .jodit-ui-form[role=list]," +
    " .jodit-ui-block[role=list], .jodit-ui-input__input:not([aria-label])," +
    " .jodit-source__mirror:not([aria-label])";

  function mendAria(element) {
    var role = element.getAttribute("role");
    if (role === "listitem" && element.hasAttribute("aria-pressed")) {
      element.removeAttribute("aria-pressed");
    }
    if (role === "popup") element.setAttribute("role", "dialog");
    if (role === "list" && element.matches(".jodit-ui-form, .jodit-ui-block")) {
      element.removeAttribute("role");
    }
    if (element.matches(".jodit-source__mirror:not([aria-label])")) {
      element.setAttribute("aria-label", "Mã HTML của nội dung");
    }
    if (element.matches(".jodit-ui-input__input:not([aria-label])")) {
      var label = element.closest(".jodit-ui-input").querySelector(".jodit-ui-input__label");
      if (label) element.setAttribute("aria-label", label.textContent);
      if (element.name === "className") element.closest(".jodit-ui-block").hidden = true;
    }
  }

  function tidyAria(root) {
    root.querySelectorAll(SLIPS).forEach(mendAria);
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        if (record.type === "attributes") mendAria(record.target);
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1) return;
          mendAria(node);
          node.querySelectorAll(SLIPS).forEach(mendAria);
        });
      });
    }).observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-pressed", "role"] });
  }

  // --- the editor form ---------------------------------------------------------------------

  var form = $("#editor-form");
  if (form) startEditor(form);
  var revisionList = $("#revision-list");
  if (revisionList) startRevisions(revisionList);
  var newPage = $("#new-page-form");
  if (newPage) startNewPage(newPage);

  function startEditor(form) {
    var kind = form.dataset.kind; // "article" or "page"
    var canEdit = form.dataset.canEdit === "true";
    var autosaveMs = Number(form.dataset.autosaveSeconds || 30) * 1000;
    var state = { id: form.dataset.id, version: Number(form.dataset.version || 0) };
    var dirty = false;
    var changes = 0;
    var loading = false; // true while the page itself sets the fields
    var timer = null;
    var chain = Promise.resolve(true);
    var fields = form.elements;

    var bodyFile = $("#body-image-file");
    var editor = Jodit.make("#body", {
      language: "vi",
      i18n: { vi: VI },
      readonly: !canEdit,
      toolbarAdaptive: false,
      toolbarSticky: false,
      // Its toolbar buttons are in the Tab order: the page works with the keyboard alone.
      allowTabNavigation: true,
      tabIndex: 0, // and so is its text

      minHeight: 360,
      height: "auto",
      showCharsCounter: false,
      showWordsCounter: false,
      showXPathInStatusbar: false,
      showPlaceholder: true,
      // Nothing from a CDN: the HTML view is a plain textarea, not reformatted.
      sourceEditor: "area",
      beautifyHTML: false,
      // Pasted Word and web HTML keeps its structure and loses its styles, without asking;
      // the server's sanitiser (domain.sanitize_html) has the last word.
      askBeforePasteHTML: false,
      askBeforePasteFromWord: false,
      defaultActionOnPaste: "insert_clear_html",
      defaultActionOnPasteFromWord: "insert_clear_html",
      cleanHTML: { denyTags: "script,style,iframe,object,embed,meta,link,form,input,button" },
      uploader: { insertImageAsBase64URI: false },
      disablePlugins: ["about", "powered-by-jodit", "ai-assistant", "speech-recognize", "video", "file", "iframe", "print", "preview", "media"],
      link: { noFollowCheckbox: false, openInNewTabCheckbox: false },
      // An image's description is edited in the desk's own dialog (#alt-dialog): Jodit's
      // properties dialog has unlabelled fields and offers sizes the sanitiser drops.
      image: { openOnDblClick: false },
      popup: {
        img: [
          { name: "bantin-alt", icon: "pencil", tooltip: "Sửa mô tả ảnh", exec: function (ed, image) { describeImage(image); } },
          { name: "delete", icon: "bin", tooltip: "Xoá ảnh", exec: function (ed, image) { if (image) ed.s.removeNode(image); changed(); } },
        ],
      },
      controls: {
        paragraph: {
          list: { p: "Đoạn văn", h2: "Tiêu đề lớn", h3: "Tiêu đề vừa", h4: "Tiêu đề nhỏ", blockquote: "Trích dẫn" },
        },
      },
      buttons: [
        "paragraph", "|", "bold", "italic", "|", "ul", "ol", "|", "link", "table",
        { name: "bantin-image", icon: "image", tooltip: "Chèn ảnh từ máy (tải lên kho ảnh)", exec: function () { bodyFile.click(); } },
        "|", "undo", "redo", "|", "source",
      ],
    });
    window.BantinEditor = editor; // for the browser tests and the console
    tidyAria(document.body);


    // The description of an image in the text ("alt"), asked for when it is inserted and
    // editable from its popup; resolves when the dialog closes.
    function describeImage(image) {
      var dialog = $("#alt-dialog");
      var input = $("#alt-text");
      input.value = image.getAttribute("alt") || "";
      return new Promise(function (resolve) {
        dialog.addEventListener(
          "close",
          function () {
            if (dialog.returnValue === "ok") {
              image.setAttribute("alt", input.value.trim());
              editor.synchronizeValues();
              changed();
            }
            resolve();
          },
          { once: true }
        );
        dialog.returnValue = "";
        dialog.showModal();
        input.focus();
      });
    }

    bodyFile.addEventListener("change", async function () {
      var file = bodyFile.files[0];
      bodyFile.value = "";
      if (!file) return;
      var image = await uploadImage(file);
      if (!image) return;
      var img = editor.createInside.element("img");
      img.setAttribute("src", variantUrl(image, "lead"));
      img.setAttribute("alt", "");
      editor.s.insertImage(img, null, null);
      changed();
      await describeImage(img);
    });

    function changed() {
      if (loading || !canEdit) return;
      // The editor reports a change a moment after the keystroke: one that comes after the
      // save of that very text is no change (a busy machine showed it, and the page then
      // said "unsaved" with nothing left to save).
      if (!dirty && JSON.stringify(values()) === lastStored) return;
      dirty = true;
      changes += 1;
      // What still stops a save, if anything, rather than only "unsaved": the editor's
      // late report of a keystroke must not hide why the save just tried was refused.
      say(missing(values()) || "Có thay đổi chưa lưu.");
      clearTimeout(timer);
      timer = setTimeout(function () {
        save({});
      }, autosaveMs);
    }
    editor.events.on("change", changed);
    form.addEventListener("input", function (event) {
      if (event.target.type !== "file" && event.target.id !== "publish_at" && event.target.id !== "return_reason") changed();
    });
    form.addEventListener("change", function (event) {
      if (event.target.tagName === "SELECT") changed();
    });

    // Hidden or left: save now, with keepalive so the request outlives the page. The
    // editor reports a change a moment after the keystroke, so the text itself is compared
    // with what was last stored too.
    function unsaved() {
      if (!dirty && canEdit && JSON.stringify(values()) !== lastStored) dirty = true;
      return dirty;
    }
    function saveBeforeLeaving() {
      if (!unsaved()) return;
      keepCopy(values()); // in case the page is gone before the answer comes
      save({ keepalive: true });
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") saveBeforeLeaving();
    });
    window.addEventListener("pagehide", saveBeforeLeaving);

    function values() {
      if (kind === "page") return { title: fields.title.value, body_html: editor.value };
      var tags = fields.tags.value
        .split(",")
        .map(function (t) {
          return t.trim();
        })
        .filter(Boolean);
      return {
        title: fields.title.value,
        summary: fields.summary.value,
        body_html: editor.value,
        author_name: fields.author_name.value,
        unit: fields.unit.value,
        source: fields.source.value,
        category_id: Number(fields.category_id.value) || null,
        image_id: Number(fields.image_id.value) || null,
        image_caption: fields.image_caption.value,
        image_alt: fields.image_alt.value,
        tags: tags,
        topic_id: Number(fields.topic_id.value) || null,
      };
    }

    var lastStored = JSON.stringify(values());

    function missing(shown) {
      var text = (editor.editor.textContent || "").trim();
      var empty = !text && !editor.editor.querySelector("img");
      if (!shown.title.trim()) return "Chưa lưu: bài cần có tiêu đề.";
      if (kind === "article" && !shown.category_id) return "Chưa lưu: hãy chọn chuyên mục.";
      if (kind === "article" && empty) return "Chưa lưu: nội dung còn trống.";
      return null;
    }

    function resourceUrl() {
      return kind === "article" ? "/api/v1/articles/" + state.id : "/api/v1/pages/" + state.id;
    }

    function request(shown) {
      if (kind === "article" && !state.id) return ["POST", "/api/v1/articles", shown];
      if (kind === "page" && state.version === 0) {
        return ["POST", "/api/v1/pages", Object.assign({ slug: state.id }, shown)];
      }
      return ["PATCH", resourceUrl(), Object.assign({ version: state.version }, shown)];
    }

    function saved(answer) {
      state.version = answer.version;
      var shownVersion = $("#version-shown");
      if (shownVersion) shownVersion.textContent = String(answer.version);
      if (kind === "article" && !state.id) {
        state.id = String(answer.id);
        form.dataset.id = state.id;
        var path = "/quan-tri/bai-viet/" + state.id;
        history.replaceState(null, "", path);
        $("#state-text").textContent = "Bản nháp, phiên bản " + answer.version;
        $("#preview-link").href = path + "/xem-truoc";
        $("#revisions-link").href = path + "/phien-ban";
        $("#article-links").hidden = false;
      }
    }

    // One save at a time, in order; resolves true when what was typed is stored.
    function save(options) {
      chain = chain.then(function () {
        return saveNow(options);
      });
      return chain;
    }

    async function saveNow(options) {
      if (!canEdit) return true;
      if (!dirty && !options.force) return true;
      clearTimeout(timer);
      var shown = values();
      var problem = missing(shown);
      if (problem) {
        keepCopy(shown);
        say(problem);
        return false;
      }
      var plan = request(shown);
      var body = JSON.stringify(plan[2]);
      var changesBefore = changes;
      say("Đang lưu…");
      var response;
      try {
        response = await send(plan[1], {
          method: plan[0],
          headers: JSON_HEADERS,
          body: body,
          // A browser sends at most 64 KB with keepalive; a longer text saves as usual.
          keepalive: Boolean(options.keepalive) && body.length < 60000,
        });
      } catch (e) {
        keepCopy(shown);
        say("Chưa lưu được: mất kết nối tới máy chủ. Bài vẫn còn trên trang; thử lại sau.");
        return false;
      }
      if (response.ok) {
        var keyBefore = copyKey();
        saved(await response.json());
        dropCopy(keyBefore);
        lastStored = JSON.stringify(shown);
        if (changes === changesBefore) dirty = false;
        say("Đã lưu lúc " + clock());
        return true;
      }
      if (response.status === 409) {
        var problemBody = await response.clone().json().catch(function () {
          return {};
        });
        if (problemBody.code === "version_conflict") return resolveConflict(shown);
      }
      keepCopy(shown);
      say("Chưa lưu được: " + (await problemText(response)));
      return false;
    }

    // --- a newer version saved meanwhile: show both, let the person choose -----------------

    function showText(target, title, html) {
      target.textContent = "";
      var heading = document.createElement("p");
      heading.className = "conflict-title";
      heading.textContent = title;
      var body = document.createElement("div");
      body.innerHTML = html; // ours from the editor, theirs sanitised by the server
      target.append(heading, body);
    }

    async function resolveConflict(mine) {
      var response = await send(resourceUrl(), { headers: { Accept: "application/json" } });
      if (!response.ok) {
        say("Chưa lưu được: " + (await problemText(response)));
        return false;
      }
      var theirs = await response.json();
      var dialog = $("#conflict-dialog");
      showText($("#conflict-mine"), mine.title, mine.body_html);
      showText($("#conflict-theirs"), theirs.title, theirs.body_html);
      $("#conflict-theirs-version").textContent = String(theirs.version);
      var choice = await new Promise(function (resolve) {
        dialog.querySelectorAll("[data-choose]").forEach(function (button) {
          button.onclick = function () {
            resolve(button.dataset.choose);
          };
        });
        dialog.oncancel = function (event) {
          event.preventDefault(); // a choice must be made: Escape does not lose either
        };
        dialog.showModal();
        $("[data-choose=mine]", dialog).focus();
      });
      dialog.close();
      state.version = theirs.version;
      if (choice === "mine") {
        dirty = true;
        return saveNow({ force: true });
      }
      takeTheirs(theirs);
      say("Đã lấy bản đã lưu (phiên bản " + theirs.version + ").");
      return true;
    }

    // Sets the form to `shown` (the API's article or page, or values() kept earlier).
    function fill(shown) {
      loading = true;
      editor.value = shown.body_html;
      fields.title.value = shown.title;
      if (kind === "article") {
        ["summary", "author_name", "unit", "source", "image_caption", "image_alt"].forEach(function (name) {
          fields[name].value = shown[name] || "";
        });
        fields.category_id.value = shown.category_id ? String(shown.category_id) : "";
        fields.topic_id.value = shown.topic_id ? String(shown.topic_id) : "";
        fields.tags.value = (shown.tags || []).map(function (t) { return t.name || t; }).join(", ");
        fields.image_id.value = shown.image_id ? String(shown.image_id) : "";
      }
      loading = false;
    }

    function takeTheirs(theirs) {
      fill(theirs);
      saved(theirs);
      lastStored = JSON.stringify(values());
      dirty = false;
    }

    // --- a copy in the browser of what could not be saved ---------------------------------------
    // A new article without a title or category cannot be stored yet, and a save may fail
    // (no network, a sign-in given up): the text is then kept in this browser, and offered
    // back the next time this article (or a new one) is opened.

    function copyKey() {
      return "bantin-unsaved:" + kind + ":" + (state.id || "new");
    }

    function keepCopy(shown) {
      try {
        localStorage.setItem(copyKey(), JSON.stringify({ at: Date.now(), values: shown }));
      } catch (e) {
        /* storage full or refused: the status line still says it is not saved */
      }
    }

    function dropCopy(key) {
      try {
        localStorage.removeItem(key || copyKey());
      } catch (e) {
        /* nothing kept */
      }
    }

    function offerCopy() {
      var kept = null;
      try {
        kept = JSON.parse(localStorage.getItem(copyKey()) || "null");
      } catch (e) {
        kept = null;
      }
      if (!kept || !canEdit) return;
      if (JSON.stringify(kept.values) === lastStored) {
        dropCopy(); // it was saved after all
        return;
      }
      var notice = $("#unsaved-copy");
      var when = new Date(kept.at).toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", hour12: false });
      $("#unsaved-copy-time").textContent = when;
      notice.hidden = false;
      notice.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-copy]");
        if (!button) return;
        notice.hidden = true;
        if (button.dataset.copy === "use") {
          fill(kept.values);
          changed();
          say("Đã dùng bản chưa lưu; bài sẽ được lưu.");
          fields.title.focus();
        } else {
          dropCopy();
        }
      });
    }
    offerCopy();

    // --- the workflow buttons ----------------------------------------------------------------

    var DONE = {
      submit: "Đã gửi duyệt",
      publish: "Đã đăng",
      schedule: "Đã hẹn giờ đăng",
      return: "Đã trả lại cho tác giả",
      unpublish: "Đã gỡ xuống",
      restore: "Đã khôi phục",
    };

    function stepBody(action) {
      if (action === "schedule") {
        var when = $("#publish_at").value; // "2026-03-01T08:00", Vietnam time (UTC+7, no DST)
        if (!when) return null;
        return { publish_at: (when.length === 16 ? when + ":00" : when) + "+07:00" };
      }
      if (action === "return") {
        var reason = $("#return_reason").value.trim();
        return reason ? { reason: reason } : null;
      }
      return {};
    }

    async function step(action) {
      var body = stepBody(action);
      if (body === null) {
        say(action === "schedule" ? "Hãy chọn ngày và giờ hẹn đăng." : "Hãy ghi lý do trả lại.");
        (action === "schedule" ? $("#publish_at") : $("#return_reason")).focus();
        return;
      }
      // What is typed is saved first: the step applies to it.
      if (canEdit && !(await save({ force: !state.id || (kind === "page" && state.version === 0) }))) return;
      var base = resourceUrl();
      var response = await send(base + "/" + action, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        say("Không thực hiện được: " + (await problemText(response)));
        return;
      }
      var where = kind === "article" ? "/quan-tri/bai-viet/" + state.id : null;
      flashThenReload((DONE[action] || "Đã xong") + " lúc " + clock() + ".", where);
    }

    // The preview shows the stored draft: what was typed is saved first.
    var previewLink = $("#preview-link");
    if (previewLink) {
      previewLink.addEventListener("click", async function (event) {
        if (!canEdit || !unsaved()) return;
        event.preventDefault();
        if (await save({})) window.location.assign(previewLink.href);
      });
    }

    form.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) return;
      var action = button.dataset.action;
      if (action === "save") {
        save({ force: true });
      } else if (action === "remove-image") {
        removeLeadImage();
      } else if (action === "attach") {
        attachDocument();
      } else {
        step(action);
      }
    });

    // --- the lead image and the documents ------------------------------------------------------

    var leadFile = $("#lead-file");
    var leadPreview = $("#lead-preview");
    var removeButton = $("[data-action=remove-image]");
    if (leadFile) {
      leadFile.addEventListener("change", async function () {
        var file = leadFile.files[0];
        if (!file) return;
        var image = await uploadImage(file);
        leadFile.value = "";
        if (!image) return;
        fields.image_id.value = String(image.id);
        leadPreview.src = variantUrl(image, "list");
        leadPreview.hidden = false;
        removeButton.hidden = false;
        changed();
      });
    }

    function removeLeadImage() {
      fields.image_id.value = "";
      leadPreview.hidden = true;
      leadPreview.removeAttribute("src");
      removeButton.hidden = true;
      changed();
    }

    async function attachDocument() {
      var file = $("#document-file").files[0];
      if (!file) {
        say("Hãy chọn tệp văn bản để đính kèm.");
        $("#document-file").focus();
        return;
      }
      if (!state.id && !(await save({ force: true }))) return;
      var data = new FormData();
      data.append("file", file);
      var title = $("#document-title").value.trim();
      if (title) data.append("title", title);
      say("Đang tải văn bản lên…");
      var response = await send(resourceUrl() + "/documents", { method: "POST", body: data });
      if (!response.ok) {
        say("Không đính kèm được: " + (await problemText(response)));
        return;
      }
      var documentShown = await response.json();
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/api/v1/documents/" + documentShown.id + "/file";
      link.textContent = documentShown.title;
      item.append(link, " (" + documentShown.kind + ")");
      $("#document-list").append(item);
      $("#document-file").value = "";
      $("#document-title").value = "";
      say("Đã đính kèm “" + documentShown.title + "”.");
    }
  }

  // --- revisions: restore one ----------------------------------------------------------------

  function startRevisions(table) {
    var articleId = table.dataset.articleId;
    table.addEventListener("click", async function (event) {
      var button = event.target.closest("button[data-restore]");
      if (!button) return;
      var number = button.dataset.restore;
      if (!window.confirm("Khôi phục bản " + number + "? Nội dung hiện tại vẫn được giữ trong các phiên bản.")) return;
      var response = await send("/api/v1/articles/" + articleId + "/revisions/" + number + "/restore", {
        method: "POST",
        headers: JSON_HEADERS,
        body: "{}",
      });
      if (!response.ok) {
        say("Không khôi phục được: " + (await problemText(response)));
        return;
      }
      flashThenReload("Đã khôi phục bản " + number + " lúc " + clock() + ".", window.location.pathname);
    });
  }

  // --- static pages: a new one ---------------------------------------------------------------

  function startNewPage(pageForm) {
    pageForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      var title = pageForm.elements.title.value.trim();
      var slug = pageForm.elements.slug.value.trim();
      if (!title) {
        say("Hãy nhập tiêu đề trang.");
        pageForm.elements.title.focus();
        return;
      }
      var body = slug ? { title: title, slug: slug } : { title: title };
      var response = await send("/api/v1/pages", {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        say("Không tạo được trang: " + (await problemText(response)));
        return;
      }
      var page = await response.json();
      flashThenReload("Đã tạo trang “" + page.title + "”.", "/quan-tri/trang/" + page.slug);
    });
  }
})();
