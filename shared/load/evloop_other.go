//go:build !linux

package load

import "errors"

const eventLoopAvailable = false

func (e *Engine) runEventLoop(*plainHTTP) error {
	return errors.New("the event loop needs Linux")
}
