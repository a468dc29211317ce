#!/bin/bash
# Runs a case file against the real ipvsadm (inside ipvs-vm) and prints a transcript.
# Case file: one ipvsadm invocation per line, arguments separated by blanks (no quoting);
# `ARGS <<< TEXT` feeds TEXT (printf %b escapes) on stdin; `! CMD` is a setup shell command
# (not part of the transcript); blank lines and lines starting with # are skipped.
# Transcript per case: `C|ARGS`, then `O|line` / `E|line` per stdout/stderr line, then `R|rc`.
cases="$1"
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue;; '! '*) eval "${line#! }" >/dev/null 2>&1; continue;; esac
  args="${line%% <<< *}"; input=""
  [[ "$line" == *' <<< '* ]] && input="${line#* <<< }"
  printf '%b' "$input" | ipvsadm $args >/tmp/o 2>/tmp/e; rc=$?
  echo "C|$line"; sed 's/^/O|/' /tmp/o; sed 's/^/E|/' /tmp/e; echo "R|$rc"
done < "$cases"
