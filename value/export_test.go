package value

// WriteLockOwner returns the pid holding the internal write lock of a double-buffered Value, 0
// when it is free or the Value has none (tests only).
func WriteLockOwner[T any](v *Value[T]) int {
	if v.blk.wl == nil {
		return 0
	}
	return v.blk.wl.Owner()
}
