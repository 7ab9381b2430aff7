// Package logx holds shmkit's lifecycle logger: off by default, switched on by SHMKIT_LOG
// (debug, info, warn or error: a text log on stderr at that level) or by proc.SetLogger /
// proc.LogToStderr. Every package logs through it, so one switch shows the whole system.
package logx

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// EnvVar names the environment variable that switches logging on; children inherit it.
const EnvVar = "SHMKIT_LOG"

var logger atomic.Pointer[slog.Logger]

func init() {
	if lv, ok := ParseLevel(os.Getenv(EnvVar)); ok {
		ToStderr(lv)
	}
}

// ParseLevel parses a level name as SHMKIT_LOG takes it.
func ParseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, true
	case "info", "1", "on", "true":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// Set installs l as the logger (nil switches logging off).
func Set(l *slog.Logger) { logger.Store(l) }

// ToStderr installs a text logger on stderr at level lv, each line tagged with the pid.
func ToStderr(lv slog.Level) {
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})
	Set(slog.New(h).With("pid", os.Getpid()))
}

// Enabled reports whether a message at lv would be logged; callers check it before building
// attributes on hot paths.
func Enabled(lv slog.Level) bool {
	l := logger.Load()
	return l != nil && l.Enabled(context.Background(), lv)
}

// Log logs msg at lv with attrs, if logging is on.
func Log(lv slog.Level, msg string, args ...any) {
	if l := logger.Load(); l != nil {
		l.Log(context.Background(), lv, msg, args...)
	}
}

// Debug logs a lifecycle message at debug level.
func Debug(msg string, args ...any) { Log(slog.LevelDebug, msg, args...) }

// Info logs at info level.
func Info(msg string, args ...any) { Log(slog.LevelInfo, msg, args...) }

// Warn logs at warn level.
func Warn(msg string, args ...any) { Log(slog.LevelWarn, msg, args...) }
