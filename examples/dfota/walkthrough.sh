#!/usr/bin/env bash
# The DFOTA walk-through of docs/user-guide.md ("DFOTA"), as a script. Start `nbmodem sandbox` in
# one terminal; run this from the same directory in another (the platform commands read the
# sandbox's control token from ./nbmodem-data). It makes a key pair, a delta package from the
# factory firmware to BC260YCNAAR02A01_BETA1230A, signs it, and sets up the stand-in platform:
# the product (examples/dfota/profile.json), the public key, the package, and a task for the
# sandbox's module. Then type in the sandbox:
#     AT+QSCLK=0
#     AT+NCDPOPEN="180.101.147.115",5683
# and watch the download, the update and the reboot.
#
# Usage: examples/dfota/walkthrough.sh [WORK_DIR]   (default dfota-work: keys and packages go there)
# Environment: NBMODEM, the nbmodem binary (default: nbmodem on the PATH); NBMODEM_API, the
# platform API's address when it is not the default 127.0.0.1:15681.
set -euo pipefail
nbmodem=${NBMODEM:-nbmodem}
profile="$(cd "$(dirname "$0")" && pwd)/profile.json"
work=${1:-dfota-work}
api=()
if [ -n "${NBMODEM_API:-}" ]; then api=(--api "$NBMODEM_API"); fi

source=BC260YCNAAR02A01
target=BC260YCNAAR02A01_BETA1230A
package=${source}_${target}
imei=865975030000001

mkdir -p "$work"
echo Quectel123 > "$work/pass.txt"
chmod 600 "$work/pass.txt"
if [ ! -e "$work/private.pem" ]; then
    "$nbmodem" fota keygen --passphrase-file "$work/pass.txt" --out "$work"
fi
"$nbmodem" fota make --from "$source" --to "$target" --size 20KiB --out "$work"
"$nbmodem" fota sign "$work/$package.zip" --key "$work/private.pem" --passphrase-file "$work/pass.txt"

"$nbmodem" platform iot product add meter "$profile" "${api[@]}"
"$nbmodem" platform iot fota key add quectel "$work/public.pem" "${api[@]}"
"$nbmodem" platform iot fota package add "$work/${package}_signed.zip" \
    --version "$target" --manufacturer quectel --device-type WaterMeter \
    --model NBIoTDevice --protocol CoAP --product meter "${api[@]}"
"$nbmodem" platform iot fota task add dfota1 --package "$package" \
    --devices "$imei" --group DFOTA "${api[@]}"
echo "walkthrough: the task is waiting; type AT+QSCLK=0 and AT+NCDPOPEN=\"180.101.147.115\",5683 in the sandbox"
