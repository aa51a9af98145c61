#!/bin/sh
# Generates the sandbox's prerecorded prompts with espeak-ng: "your code is"
# and the digits 0-9, as 22.05 kHz WAV files under sounds/voices/ (served on
# 127.0.0.1:8090 as http://server.domain.com/voices/... by the sandbox).
# They are deliberately not 8 kHz: the service converts what it fetches.
set -eu
out="$(dirname "$0")/voices"
mkdir -p "$out"
speak() { printf '%s' "$2" | espeak-ng --stdin -v en-us+f3 -s 140 -w "$out/$1.wav"; }
speak your-code-is "Your code is"
for d in 0 1 2 3 4 5 6 7 8 9; do speak "$d" "$d"; done
echo "sounds: wrote $(ls "$out" | wc -l) prompts to $out"
