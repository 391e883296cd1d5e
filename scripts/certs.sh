# Sourced by the benchmark scripts (bench.sh, ab.sh, callgrind.sh, cold.sh):
# the TLS material of a benchmark server.
#
#   bench_certs DIR     # prints the admin identity
#
# Writes, unless DIR/server.crt exists: an openssl-made P-256 server
# certificate for 127.0.0.1 and localhost (server.crt/.key) and a P-256
# client certificate (client.crt/.key; CA:FALSE, since a CA certificate is
# not an identity, spec §4.1). Keys are 0600. Prints the client's identity
# (SHA-256 of its SPKI), which the scripts make the admin.
bench_certs() {
    local dir=$1
    mkdir -p "$dir"
    if [[ ! -f $dir/server.crt ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
            -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -subj /CN=bench -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=clientAuth \
            -keyout "$dir/client.key" -out "$dir/client.crt" 2>/dev/null
        chmod 600 "$dir"/*.key
    fi
    openssl x509 -in "$dir/client.crt" -pubkey -noout | openssl pkey -pubin -outform DER |
        sha256sum | cut -d' ' -f1
}
