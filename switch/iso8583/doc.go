// Package iso8583 owns the switch's ISO 8583 wire format (DESIGN.md 6.1):
// the message spec, a fast codec for the messages of the contract, their
// MAC, the length-prefixed framing, and the small helpers the front end
// builds sessions from (MTIs, response codes, field 90, payment keys,
// STANs). docs/iso8583.md is the integrators' guide to the same contract.
//
// # Two codecs, one source of truth
//
// [Spec] is a github.com/moov-io/iso8583 message spec and the single
// source of truth of the format: every field's type, length, length prefix
// and characters is written there, once. Moov's codec is general and
// allocates: several microseconds and 50 to 130 allocations per payment
// each way. The switch's hot path ([Message.Pack], [Unpack]) is a second
// codec that handles exactly the fields of Spec, in well under a
// microsecond and without allocating. It is not a second definition of the
// format: at start-up it reads its field table from Spec (type, length,
// prefix and the character class of each field's wireRule), and panics if
// Spec holds something it cannot handle. A differential fuzz test
// (FuzzDifferential) then proves that both codecs write identical bytes for
// any message, and accept and reject the same input, decoding it to equal
// values.
//
// The contract is strict, and so are both codecs: numbers are digits only,
// lengths stay within each field's limits, an empty variable field is
// refused, bitmaps are upper-case hex, a secondary bitmap is present only
// when a field above 64 is, fields Spec does not define and bytes after the
// last field are refused. Every message therefore has exactly one
// encoding, and Pack(Unpack(p)) is p.
//
// # Errors
//
// A message that breaks the format gets a [*FieldError] naming the field
// and wrapping a sentinel (ErrCharset, ErrLength...), so that the front end
// can answer 30 and log the field number without ever logging its content.
// The errors are made once at start-up, so rejecting garbage allocates
// nothing either. [PeekMTISTAN] reads the MTI and STAN of a malformed
// message when they are readable, for that 30 answer. [Message.CheckFields]
// checks the fields a message type requires, on top of the format.
//
// # Usage
//
// One session's read loop, on one goroutine:
//
//	mc, err := iso8583.NewMACer(participantKey) // once per session
//	var req, resp iso8583.Message               // reused for every message
//	for {
//		frame, rest, err := iso8583.NextFrame(buf)
//		if err != nil { /* close the session */ }
//		if frame == nil { break } // read more
//		buf = rest
//		if err := iso8583.Unpack(frame, &req); err != nil { /* 30 via PeekMTISTAN */ }
//		if err := req.CheckFields(); err != nil { /* 30; 12 for an unsupported MTI, 63 without a MAC */ }
//		if iso8583.MACRequired(req.MTI) && iso8583.VerifyMAC(frame, mc) != nil { /* 63 */ }
//		resp.ResponseTo(&req)
//		resp.ResponseCode = iso8583.ResponseApproved
//		resp.Set(iso8583.FieldResponseCode)
//		out, err = iso8583.PackFrame(out, &resp, mc)
//	}
//
// # Concurrency and caveats
//
// Spec, the field table and the helpers without receivers are read-only
// and safe for concurrent use. A [Message], a [MACer] and a [FrameReader]
// are not: keep one per goroutine or session. [STANSequence] is safe for
// concurrent use. [Message.Bytes] and the frames of [NextFrame] alias their
// source; Unpack copies what it keeps, so a Message never aliases the
// buffer it was decoded from. The codec checks characters and lengths, not
// meaning: that field 7 is a real date, that a participant exists or that
// an amount is above zero are the front end's checks.
package iso8583
