package i18n

// Error is a failure told in two parts: the plain sentence for the site's
// staff (Msg), and the technical detail (Err, in English) for whoever
// helps them. errors.Is and errors.As see through it to Err.
type Error struct {
	Msg Message
	Err error
}

// Error is the plain sentence in English, then the detail.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg.In(EN)
	}
	return e.Msg.In(EN) + " (" + e.Err.Error() + ")"
}

func (e *Error) Unwrap() error { return e.Err }

// Detail is the technical detail ("" without one).
func (e *Error) Detail() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}
