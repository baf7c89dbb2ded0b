package control

import (
	"fmt"
	"time"
)

// EmailAccountSuspended is the kind of the email telling an owner that
// the spend check suspended their account.
const EmailAccountSuspended = "account_suspended"

// AccountSuspendedNotice is what the suspension email says.
type AccountSuspendedNotice struct {
	// Key is "suspended:<account>:<flag time>", once per flag.
	Key       string
	Recipient Recipient
	// Reason states the amounts the rule compared; nothing else.
	Reason string
	At     time.Time
}

// AccountSuspendedEmail builds the email telling an owner that their
// account was suspended after a spend anomaly, and how to get it back.
func AccountSuspendedEmail(n AccountSuspendedNotice, l BillingLinks) Email {
	lines := []string{
		fmt.Sprintf("We suspended your %s account at %s because its spending jumped far above its usual level: %s.",
			l.product(), n.At.UTC().Format("2 January 2006 15:04 UTC"), n.Reason),
		"",
		"You asked for this: automatic suspension on unusual spending is turned on for your account. " +
			"While the account is suspended, every API key is refused; nothing else changed.",
		"",
		"If you did not expect this spending, one of your API keys may have leaked: revoke it in the dashboard. " +
			"Then reply to this email or contact support to have the account restored.",
	}
	e := billingEmail(n.Recipient, EmailAccountSuspended, n.Key,
		fmt.Sprintf("Your %s account was suspended after unusual spending", l.product()), lines, BillingLinks{Product: l.Product})
	return e
}
