package proc

// SparePid returns the pid of the warm spare a Start would take now, or 0.
func SparePid() int {
	warm.mu.Lock()
	defer warm.mu.Unlock()
	if warm.spare == nil {
		return 0
	}
	return warm.spare.cmd.Process.Pid
}
