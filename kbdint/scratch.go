// Eight-digit answers of eight-digit OTP users: an imported
// google-authenticator scratch code has eight digits too.
package kbdint

import (
	"errors"
	"time"

	"bastion/oath"
	"bastion/store"
)

// scratchFor8Digits reports whether an answer of an 8-digit OTP user should
// be spent as a recovery code: it is eight digits, the user has recovery
// codes left, and it is not an OTP code of the state read at the start of
// the login (checked without consuming anything). So each answer is checked,
// and counted, by exactly one store call: an OTP code that went stale in the
// meantime still takes the OTP path and fails as a replay.
func scratchFor8Digits(u *store.User, code string, now time.Time) bool {
	o := u.OTP
	if o == nil || o.Params.Digits != 8 || u.RecoveryLeft == 0 || len(code) != 8 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	switch o.Params.Kind {
	case oath.KindTOTP:
		_, err := oath.VerifyTOTP(o.Params, code, now, o.LastStep)
		return err != nil && !errors.Is(err, oath.ErrReplayed)
	case oath.KindHOTP:
		_, err := oath.VerifyHOTP(o.Params, code, o.Counter)
		return err != nil
	}
	return false
}
