package pids

import (
	"errors"
	"strconv"
)

// errStat is returned by ParseStartTime for a /proc/PID/stat line it cannot read.
var errStat = errors.New("pids: malformed /proc/PID/stat")

// ParseStartTime returns field 22 of a /proc/PID/stat line: the process's start time in clock
// ticks since boot. The second field (comm, in parentheses) may itself hold spaces and
// parentheses, so the fields are counted from the last ')'. It never panics, whatever b holds.
func ParseStartTime(b []byte) (uint64, error) {
	end := -1
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			end = i
			break
		}
	}
	if end < 0 {
		return 0, errStat
	}
	// After ") " come fields 3 (state) to 52; the start time is field 22, the 20th of them.
	field, start := 3, -1
	for i := end + 1; i <= len(b); i++ {
		sep := i == len(b) || b[i] == ' ' || b[i] == '\n'
		if !sep {
			if start < 0 {
				start = i
			}
			continue
		}
		if start < 0 {
			continue
		}
		if field == 22 {
			v, err := strconv.ParseUint(string(b[start:i]), 10, 64)
			if err != nil || v == 0 {
				return 0, errStat
			}
			return v, nil
		}
		field, start = field+1, -1
	}
	return 0, errStat
}
