// Package routing owns the building blocks that stand between a
// participant's request and the ledger: identifiers, their tokens, the
// masking of personal data, the anti-enumeration limiter, the resolve
// audit trail and the consent hooks. The participant directory and the
// identifier mapper, which hold replicated state, build on these.
//
// # Identifiers and tokens
//
// An identifier arrives in the wire form "type:value" (ISO 8583 field 103,
// "msisdn:+254700000001") or as a type and a value (HTTP). ParseIdentifier
// and NewIdentifier validate it and normalise it by type, so that every
// spelling of one identifier becomes one [Identifier]. Mobile numbers are
// checked and brought to E.164 with github.com/nyaruka/phonenumbers (a Go
// port of libphonenumber): the country code must exist and the length must
// be possible for it, but the number need not belong to a range the
// metadata knows, because ranges open faster than the library is released
// and an unknown number simply misses in the mapper.
//
// A [Tokenizer] turns an Identifier into a [Token], an HMAC-SHA256 under a
// cluster secret. Tokens are what the switch stores and replicates: a
// mapper entry is keyed by its token, a Raft command carries tokens, the
// audit trail records tokens. A Token is a comparable [32]byte, so a
// deterministic state machine can hold entries in a map keyed by it and
// write them in Token.Compare order.
//
// # The privacy rule
//
// A raw identifier (an Identifier's Value or Wire, or the text it came
// from) must never be logged, stored in Pebble or put in a Raft command.
// It is tokenised at the edge, on arrival, and forwarded only to the
// participant that needs it. To make accidents unlikely, an Identifier
// prints and logs as its masked form ([MaskIdentifier]) under every fmt
// verb and in slog; errors about identifiers name the field and the rule,
// never the input; a resolve shows a masked display name ([MaskName]).
//
// # Resolves
//
// A resolve goes: [Limiter.Allow] (refused with a [*RateLimitError] when
// the requester's budget is spent), the mapper lookup by token,
// [Limiter.Charge] with hit or miss, and [Auditor.Record]. A miss costs
// more than a hit, because enumeration is mostly misses.
//
// # Consent
//
// Before money or data moves, the flow asks a [ConsentHook] and carries
// the Decision's reference with the transfer. [Chain] asks several hooks
// in order and allows only if all allow; [ForParticipants] scopes a hook
// to some participants; [WebhookHook] asks an external HTTP service
// within a latency budget and fails closed unless told to fail open.
//
// # Concurrency
//
// IDType, Identifier, Token and Decision are values. Tokenizer, Chain and
// WebhookHook are immutable after construction; Limiter and AuditRing lock
// internally. All of them are safe for concurrent use. The Limiter never
// reads the clock: callers pass the time, so it is deterministic.
//
// # Caveats
//
//   - Key rotation: a token depends on the cluster secret, and the switch
//     keeps no raw identifiers to tokenise again. Changing the secret
//     therefore orphans every mapper entry; rotation needs the holders'
//     participants to link again under the new secret while both are
//     accepted, which this package does not do yet. Every node must hold
//     the same secret; compare Tokenizer.Fingerprint at start.
//   - Tokens are deterministic, so whoever holds the secret can test a
//     guessed identifier against the stored tokens. The secret is as
//     sensitive as the directory itself.
//   - The phone number metadata is compiled into the binary; a country
//     that changes its numbering plan needs a new release to accept the
//     new lengths.
//   - E-mail addresses are ASCII only; internationalised addresses are
//     rejected. The local part is lower-cased, as providers treat it.
//   - Account numbers in acct identifiers are kept as written, case
//     included: the participant defines what its account numbers are.
//   - The AuditRing is in memory and forgets its oldest records when
//     full; a persistent Auditor comes with the replicated state.
//   - The Limiter forgets the least recently seen requester when it
//     tracks RequestersMax of them; a forgotten requester returns with a
//     full bucket, so RequestersMax must exceed the number of participants.
package routing
