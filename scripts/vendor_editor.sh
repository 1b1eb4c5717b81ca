#!/bin/sh
# Fetches the article editor (Jodit, MIT) at the pinned version from the npm registry and
# copies the built files the desk uses into services/common/static/vendor/jodit-VERSION/.
# Run it from the repository root after changing JODIT_VERSION, then update the version
# in services/articles/desk_editor.py (EDITOR_ASSETS) and commit the new folder.
set -eu
JODIT_VERSION=4.15.13
# The npm registry's integrity (dist.integrity) of that tarball: a changed one is refused.
JODIT_INTEGRITY=sha512-7/0Q85OgtHIIn8qF/tw5CBT2qFdrbbcqxbjS5Z3+jJls+sxGwWLPLFv0heXDqoDsNF0lNUHQity9vC0ErOgKDg==
target="services/common/static/vendor/jodit-$JODIT_VERSION"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "jodit@$JODIT_VERSION" > name.txt)
integrity="sha512-$(openssl dgst -sha512 -binary "$work/$(cat "$work/name.txt")" | base64 -w0)"
if [ "$integrity" != "$JODIT_INTEGRITY" ]; then
  echo "jodit@$JODIT_VERSION: unexpected integrity $integrity" >&2
  exit 1
fi
tar -xzf "$work/$(cat "$work/name.txt")" -C "$work"
mkdir -p "$target"
# The ES2021 build without extra languages (the desk's Vietnamese labels are in
# services/common/static/editor.js), its stylesheet and its licence.
cp "$work/package/es2021/jodit.min.js" "$work/package/es2021/jodit.min.css" "$target/"
cp "$work/package/LICENSE.txt" "$target/LICENSE.txt"
echo "copied jodit $JODIT_VERSION into $target"
