package host

// LoadError says in plain words why a module is refused; the control
// service shows Reason to the tenant who uploaded it.
type LoadError struct {
	Reason string
	// Err is the underlying error when there is one, such as the
	// *CallError of a failed smoke call in Validate.
	Err error
}

func (e *LoadError) Error() string { return "plugin refused: " + e.Reason }
func (e *LoadError) Unwrap() error { return e.Err }

// Kinds of CallError. The edge applies the plugin's fail policy to all of
// them alike; the kind is for metrics and for the tenant's plugin log.
const (
	KindTrap          = "trap"           // the module trapped (unreachable, out-of-bounds access, a bad sy import argument)
	KindTimeout       = "timeout"        // the call ran past its deadline, or the caller gave up
	KindMemory        = "memory"         // the module ran out of its memory cap
	KindInvalidOutput = "invalid_output" // the decision is out of bounds, too large, not JSON or breaks ABI.md's rules
	KindExit          = "exit"           // the module called proc_exit
	KindAlloc         = "alloc"          // sy_alloc gave no usable buffer
)

// CallError is a failed Route call. The instance that failed is discarded.
type CallError struct {
	Kind   string
	Detail string
}

func (e *CallError) Error() string { return "plugin " + e.Kind + ": " + e.Detail }
