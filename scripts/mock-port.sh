# Sourced by the test scripts. mock_port LOG PID: waits (up to 15 s) for the mock started
# as PID, logging to LOG, to print its listening line; prints the HTTP port, or fails
# when the mock exits or never says.
mock_port() {
    local log=$1 pid=$2 port
    for _ in $(seq 1 300); do
        port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -n1)
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
