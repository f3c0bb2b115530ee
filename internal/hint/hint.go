// Package hint attaches to an error the one thing a user should do about it.
//
// The CLI prints an error as one line, then "hint: ..." when the error (or
// any error it wraps) carries a hint. Errors a user can cause — a bad URL, an
// unknown group, a failed preflight — all carry one.
package hint

import "errors"

// Error is an error with advice for the user.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap attaches a hint to err; nil stays nil.
func Wrap(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: hint}
}

// New is errors.New with a hint.
func New(msg, hint string) error { return &Error{Err: errors.New(msg), Hint: hint} }

// Of returns the outermost hint in err's chain, or "".
func Of(err error) string {
	var h *Error
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}
