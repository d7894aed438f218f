# Shared by scripts/sandbox and scripts/test: installs, from Debian, the system packages a build
# needs and a fresh machine may lack, plus any more given as arguments (`command:package` pairs:
# the package is installed when the command is missing).

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "nbmodem: need root or sudo to run: $*" >&2
        return 1
    fi
}

# The build: OpenSSL headers and pkg-config (DTLS and the DM encryption link OpenSSL), a C
# compiler for the -sys crates (SQLite is built in).
install_packages() {
    local wanted=()
    dpkg -s libssl-dev >/dev/null 2>&1 || wanted+=(libssl-dev)
    command -v pkg-config >/dev/null || wanted+=(pkg-config)
    command -v cc >/dev/null || wanted+=(gcc)
    local pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || wanted+=("${pair#*:}")
    done
    install_debian_packages ${wanted[@]+"${wanted[@]}"}
}

# Installs the given Debian packages (nothing when none is given).
install_debian_packages() {
    [ $# -eq 0 ] && return 0
    echo "nbmodem: installing $*" >&2
    { as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } ||
        { echo "nbmodem: could not install $* with apt-get" >&2; return 1; }
}
