package node

import "errors"

// ErrNotRunning means no node answers on the local API of a store.
var ErrNotRunning = errors.New("no ferry node is running")
