package iso8583

// MTI is a message type indicator: the four decimal digits that open every
// message, held as their value (0200 is 200). A response's MTI is its
// request's plus 10, which is why the type is a number and not text.
type MTI uint16

// The message types of DESIGN.md 6.1.
const (
	MTIFinancialRequest       MTI = 200 // 0200: a payment (push or pull)
	MTIFinancialResponse      MTI = 210 // 0210: its outcome
	MTIReversalAdvice         MTI = 420 // 0420: undo a payment (the switch's after a timeout, or a bank's own)
	MTIReversalAdviceResponse MTI = 430 // 0430: the reversal is acknowledged
	MTINetworkRequest         MTI = 800 // 0800: sign-on, sign-off, echo
	MTINetworkResponse        MTI = 810 // 0810: its answer
)

// mtiMax is the largest MTI that four digits can carry.
const mtiMax = 9999

// String returns the MTI as its four wire digits, "0200".
func (t MTI) String() string {
	var b [4]byte
	if t > mtiMax {
		return "MTI(" + string(appendUint(nil, uint64(t))) + ")"
	}
	putDigits(b[:], uint64(t))
	return string(b[:])
}

// IsRequest reports whether t is a request or an advice, that is, a message
// that is answered: its function digit (the third) is even. 0200, 0420 and
// 0800 are; 0210, 0430 and 0810 are not.
func (t MTI) IsRequest() bool {
	return t <= mtiMax && (t/10)%2 == 0
}

// Response returns the MTI that answers t (t + 10) and true, or 0 and false
// when t is not a request.
func (t MTI) Response() (MTI, bool) {
	if !t.IsRequest() {
		return 0, false
	}
	return t + 10, true
}

// ResponseCode is field 39: two alphanumeric characters, held as a pair of
// bytes in one uint16 ('0'<<8 | '0' for "00") so that the codes can be
// constants and comparing them costs nothing.
type ResponseCode uint16

// The response codes of DESIGN.md 6.1. The names say when each is given;
// docs/iso8583.md has the full rules.
const (
	ResponseApproved           ResponseCode = '0'<<8 | '0' // 00 approved
	ResponseDoNotHonour        ResponseCode = '0'<<8 | '5' // 05 the payee declined
	ResponseInvalidTransaction ResponseCode = '1'<<8 | '2' // 12 invalid transaction
	ResponseInvalidAmount      ResponseCode = '1'<<8 | '3' // 13 invalid amount
	ResponseUnknownAccount     ResponseCode = '1'<<8 | '4' // 14 unknown account or alias
	ResponseOriginalNotFound   ResponseCode = '2'<<8 | '5' // 25 original not found
	ResponseFormatError        ResponseCode = '3'<<8 | '0' // 30 format error
	ResponseLiquidityExhausted ResponseCode = '5'<<8 | '1' // 51 payer participant's liquidity exhausted
	ResponseNotPermitted       ResponseCode = '5'<<8 | '7' // 57 not permitted (consent denied, mandate missing)
	ResponseSecurityViolation  ResponseCode = '6'<<8 | '3' // 63 security violation (MAC, not signed on)
	ResponsePayeeTimedOut      ResponseCode = '6'<<8 | '8' // 68 payee timed out
	ResponseUnavailable        ResponseCode = '9'<<8 | '1' // 91 switch or payee unavailable, or not the leader
	ResponseUnknownParticipant ResponseCode = '9'<<8 | '2' // 92 unknown participant
	ResponseDuplicate          ResponseCode = '9'<<8 | '4' // 94 duplicate: same 32+37, different content
	ResponseSystemError        ResponseCode = '9'<<8 | '6' // 96 system error
)

// responseCodes lists every code of the contract with its meaning, in
// numeric order; Meaning and the documentation read it.
var responseCodes = [...]struct {
	code    ResponseCode
	meaning string
}{
	{ResponseApproved, "approved"},
	{ResponseDoNotHonour, "do not honour"},
	{ResponseInvalidTransaction, "invalid transaction"},
	{ResponseInvalidAmount, "invalid amount"},
	{ResponseUnknownAccount, "unknown account or alias"},
	{ResponseOriginalNotFound, "original not found"},
	{ResponseFormatError, "format error"},
	{ResponseLiquidityExhausted, "payer participant's liquidity exhausted"},
	{ResponseNotPermitted, "not permitted"},
	{ResponseSecurityViolation, "security violation"},
	{ResponsePayeeTimedOut, "payee timed out"},
	{ResponseUnavailable, "switch or payee unavailable"},
	{ResponseUnknownParticipant, "unknown participant"},
	{ResponseDuplicate, "duplicate"},
	{ResponseSystemError, "system error"},
}

// ResponseCodes returns every response code of the contract, in numeric
// order.
func ResponseCodes() []ResponseCode {
	codes := make([]ResponseCode, len(responseCodes))
	for i, rc := range responseCodes {
		codes[i] = rc.code
	}
	return codes
}

// String returns the two characters of the code, "00".
func (c ResponseCode) String() string { return string([]byte{byte(c >> 8), byte(c)}) }

// Meaning returns what the code says ("approved"), or "" for a code that
// is not in the contract.
func (c ResponseCode) Meaning() string {
	for _, rc := range responseCodes {
		if rc.code == c {
			return rc.meaning
		}
	}
	return ""
}

// ProcessingCode is field 3 (n6).
type ProcessingCode uint32

// The processing codes of DESIGN.md 5.
const (
	// ProcessingPush is a credit transfer: the payer's bank pushes money to
	// the payee.
	ProcessingPush ProcessingCode = 400000
	// ProcessingPull is a debit the payee's side asks for; it needs an
	// active mandate, named in field 48.
	ProcessingPull ProcessingCode = 0
)

// NetworkCode is field 70 (n3) of an 0800/0810.
type NetworkCode uint16

// The network management codes of DESIGN.md 6.1.
const (
	NetworkSignOn  NetworkCode = 1   // 001: open the session
	NetworkSignOff NetworkCode = 2   // 002: close it
	NetworkEcho    NetworkCode = 301 // 301: keep-alive, sent by either side
)
