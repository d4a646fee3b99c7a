package routing

import "time"

// Limits of the package. Each one bounds memory or work that a participant's
// input can cause; limits_test.go checks how they relate to each other.
const (
	// IdentifierInputLenMax is the most bytes ParseIdentifier and
	// Normalize look at. Longer input is refused before any other work,
	// so a hostile request cannot make normalisation expensive. It leaves
	// room for the longest type name, the ':' and the longest e-mail address
	// with some surrounding padding.
	IdentifierInputLenMax = 320

	// msisdnDigitsMin and msisdnDigitsMax bound the digits of an E.164
	// number, country code included. E.164 allows at most 15; fewer than 8
	// is no real subscriber number anywhere.
	msisdnDigitsMin = 8
	msisdnDigitsMax = 15

	// nidLenMin and nidLenMax bound a national ID after normalisation.
	nidLenMin = 4
	nidLenMax = 32

	// aliasLocalLenMax bounds the name part of an alias (name@participant).
	aliasLocalLenMax = 64

	// participantDigitsMax matches ISO 8583 fields 32 and 100 (n..11).
	participantDigitsMax = 11

	// accountLenMax matches ISO 8583 field 102 (ans..28).
	accountLenMax = 28

	// emailLenMax, emailLocalLenMax and emailLabelLenMax are the RFC 5321
	// path, local-part and RFC 1035 label limits.
	emailLenMax      = 254
	emailLocalLenMax = 64
	emailLabelLenMax = 63

	// bootstrapFlowDepthMax bounds how deep a participants file nests flow
	// lists and maps ([...], {...}), and bootstrapBlockColumnMax the column
	// of a block list entry or key, which bounds how deep block ones nest.
	// The schema goes five deep (participants, an entry, positions, a
	// currency, its fields), keys are short, and the YAML parser's work
	// grows with the square of the nesting.
	bootstrapFlowDepthMax   = 32
	bootstrapBlockColumnMax = 128

	// bootstrapSubmitCommandsMax is the most ledger commands (fundings,
	// positions) that applying a participants file puts in one Submit. A
	// replica's proposer refuses a Submit beyond its BatchCommandsMax
	// (4096 by default) outright; 1024 is also its default
	// BatchCommandsTarget, the entry size it is tuned for.
	bootstrapSubmitCommandsMax = 1024

	// tokenizerSecretLenMin is the shortest cluster secret NewTokenizer
	// accepts: as long as the HMAC-SHA256 output, so the secret is never the
	// weak link. tokenizerSecretLenMax only stops absurd configuration.
	tokenizerSecretLenMin = 32
	tokenizerSecretLenMax = 1024

	// maskWordsMax is how many words of a display name MaskName keeps, and
	// maskWordRunesMax how long each masked word can be, so that a masked
	// name stays short whatever a participant registered.
	maskWordsMax     = 4
	maskWordRunesMax = 24

	// limiterRequestersMax caps LimiterConfig.RequestersMax. A requester is
	// a participant, and a switch has hundreds of them, not millions.
	limiterRequestersMax = 1 << 16
	// limiterCapacityMax and limiterRefillPerSecondMax cap the bucket
	// settings so that the fixed-point arithmetic (nano-units) cannot
	// overflow an int64: limiterCapacityMax * 1e9 is 1e15.
	limiterCapacityMax        = 1_000_000
	limiterRefillPerSecondMax = 1_000_000

	// auditRingCapacityMax caps NewAuditRing's capacity (about 100 MiB of
	// records at most).
	auditRingCapacityMax = 1 << 20

	// chainHooksMax is the most hooks a Chain may hold; the latency budgets
	// of its webhooks add up, so a long chain is a configuration mistake.
	chainHooksMax = 8

	// reasonLenMax bounds a Decision's reason code, referenceLenMax its
	// consent reference; a Chain joins at most chainHooksMax references.
	reasonLenMax    = 32
	referenceLenMax = 64

	// transferIDLenMax and mandateIDLenMax bound the free-text IDs of a
	// consent Request.
	transferIDLenMax = 64
	mandateIDLenMax  = 128

	// hookNameLenMax bounds a webhook's name, which is a metric label.
	hookNameLenMax = 32

	// webhookBudgetDefault is a webhook's latency budget when none is set;
	// webhookBudgetMin and webhookBudgetMax bound a configured one. A payment
	// should finish in milliseconds, so a screening call gets little time.
	webhookBudgetDefault = 150 * time.Millisecond
	webhookBudgetMin     = time.Millisecond
	webhookBudgetMax     = 2 * time.Second

	// webhookResponseBytesMax bounds the body read from a webhook; a longer
	// body is malformed. webhookRequestBytesMax is an upper bound of the
	// JSON body the switch sends, asserted after encoding.
	webhookResponseBytesMax = 4096
	webhookRequestBytesMax  = 1024
)
