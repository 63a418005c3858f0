#!/usr/bin/env bash
# Rebuild dancesearch/web/vendor/three.min.js from npm, so the page needs no CDN at run time.
#
# three.js no longer ships a minified module build on npm, so this installs the versions pinned in
# package.json (three, and esbuild to bundle) into a throw-away folder and bundles three-entry.js -
# the few classes player.js uses plus OrbitControls - into one minified, tree-shaken ES module.
# node_modules is never committed; only three.min.js and three.LICENSE are.
# Usage: dancesearch/web/vendor/update_vendor.sh   (needs node + npm and access to the npm registry)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp "$here/package.json" "$here/three-entry.js" "$build/"
(cd "$build" && npm install --no-audit --no-fund --silent)
(cd "$build" && ./node_modules/.bin/esbuild three-entry.js --bundle --minify --format=esm \
    --legal-comments=none --outfile="$here/three.min.js")
cp "$build/node_modules/three/LICENSE" "$here/three.LICENSE"
version="$(node -p "require('$build/node_modules/three/package.json').version")"
sed -i "1i /* three.js ${version} (MIT, see three.LICENSE), bundled by update_vendor.sh */" "$here/three.min.js"
echo "bundled three $version into $here/three.min.js"
