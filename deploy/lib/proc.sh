# Shell helpers shared by deploy/ scripts; source it, do not run it.

# alive PID: whether PID is a running (not zombie) process.
alive() {
	local state
	if [ -r "/proc/$1/stat" ]; then
		read -r _ _ state _ 2>/dev/null <"/proc/$1/stat" || return 1
		[ "$state" != Z ]
	else
		kill -0 "$1" 2>/dev/null
	fi
}
