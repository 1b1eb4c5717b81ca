#!/bin/sh
# Fetches the desk's front-end files at their pinned versions from the npm registry, checks
# each tarball against its registry integrity (`npm view PACKAGE@VERSION dist.integrity`),
# and copies only the files used:
#   - the article editor, Jodit (MIT), into services/common/static/vendor/jodit-VERSION/
#     (served at /static/vendor/...; its path is EDITOR_ASSETS in
#     services/articles/desk_editor.py);
#   - axe-core (MPL-2.0), the accessibility checker the browser tests inject, into
#     tests/e2e/vendor/axe-core-VERSION/ (tests/e2e/accessibility.py names it).
# Run it from the repository root after changing a version, update those two names, and
# commit the new folders (the old ones removed).
set -eu
JODIT_VERSION=4.15.13
JODIT_INTEGRITY=sha512-7/0Q85OgtHIIn8qF/tw5CBT2qFdrbbcqxbjS5Z3+jJls+sxGwWLPLFv0heXDqoDsNF0lNUHQity9vC0ErOgKDg==
AXE_VERSION=4.14.1
AXE_INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION INTEGRITY: the package unpacked in $work/NAME/package
fetch() {
  mkdir -p "$work/$1"
  tarball=$(cd "$work/$1" && npm pack --silent "$1@$2")
  integrity="sha512-$(openssl dgst -sha512 -binary "$work/$1/$tarball" | base64 -w0)"
  if [ "$integrity" != "$3" ]; then
    echo "$1@$2: unexpected integrity $integrity" >&2
    exit 1
  fi
  tar -xzf "$work/$1/$tarball" -C "$work/$1"
}

fetch jodit "$JODIT_VERSION" "$JODIT_INTEGRITY"
target="services/common/static/vendor/jodit-$JODIT_VERSION"
mkdir -p "$target"
# The ES2021 build without extra languages (the desk's Vietnamese labels are in
# services/common/static/editor.js), its stylesheet and its licence.
cp "$work/jodit/package/es2021/jodit.min.js" "$work/jodit/package/es2021/jodit.min.css" "$target/"
cp "$work/jodit/package/LICENSE.txt" "$target/LICENSE.txt"
echo "copied jodit $JODIT_VERSION into $target"

fetch axe-core "$AXE_VERSION" "$AXE_INTEGRITY"
target="tests/e2e/vendor/axe-core-$AXE_VERSION"
mkdir -p "$target"
cp "$work/axe-core/package/axe.min.js" "$work/axe-core/package/LICENSE" "$target/"
echo "copied axe-core $AXE_VERSION into $target"
