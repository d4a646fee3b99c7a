package iso8583

// requirement says which fields a message type carries: the mandatory ones
// and the optional ones; any other field is not allowed.
type requirement struct {
	mti       MTI
	mandatory bitmap
	optional  bitmap
	// approval is set on 0210: field 38 is mandatory when 39 is 00.
	approval bool
}

// requests lists the fields of each request of DESIGN.md 6.1 and 5; the
// responses are derived from them (see buildRequirements).
var requests = [...]struct {
	mti       MTI
	mandatory []Field
	optional  []Field
}{
	{MTINetworkRequest,
		[]Field{FieldTransmissionTime, FieldSTAN, FieldForwarder, FieldNetworkCode, FieldMAC},
		nil},
	{MTIFinancialRequest,
		[]Field{FieldProcessingCode, FieldAmount, FieldTransmissionTime, FieldSTAN, FieldAcquirer,
			FieldRRN, FieldCurrency, FieldPayerAccount, FieldPayeeAccount, FieldMAC},
		[]Field{FieldPAN, FieldLocalTime, FieldLocalDate, FieldForwarder, FieldTerminal,
			FieldAdditionalData, FieldReceiver}},
	{MTIReversalAdvice,
		[]Field{FieldProcessingCode, FieldAmount, FieldTransmissionTime, FieldSTAN, FieldAcquirer,
			FieldRRN, FieldCurrency, FieldOriginalData, FieldMAC},
		[]Field{FieldPAN, FieldLocalTime, FieldLocalDate, FieldForwarder, FieldTerminal,
			FieldAdditionalData, FieldReceiver, FieldPayerAccount, FieldPayeeAccount}},
}

// requirements holds the six message types of the contract, built once.
var requirements = buildRequirements()

// buildRequirements derives each response from its request: a response
// echoes the request's data elements (mandatory ones stay mandatory),
// adds 39, adds 38 on an approval of a payment, and carries the
// responder's MAC where DESIGN.md 6.1 requires one, which is on every
// response but 0810.
func buildRequirements() (table [2 * len(requests)]requirement) {
	for i, req := range requests {
		var r requirement
		r.mti = req.mti
		for _, f := range req.mandatory {
			r.mandatory.set(f)
		}
		for _, f := range req.optional {
			r.optional.set(f)
		}
		resp := r
		resp.mti, _ = req.mti.Response()
		resp.mandatory.set(FieldResponseCode)
		if resp.mti == MTIFinancialResponse {
			resp.optional.set(FieldApprovalCode)
			resp.approval = true
		}
		if resp.mti == MTINetworkResponse {
			resp.mandatory.clear(FieldMAC)
			resp.optional.set(FieldMAC)
		}
		table[2*i], table[2*i+1] = r, resp
	}
	return table
}

// requirementOf returns the requirement of message type t, or nil.
func requirementOf(t MTI) *requirement {
	for i := range requirements {
		if requirements[i].mti == t {
			return &requirements[i]
		}
	}
	return nil
}

// CheckFields checks that the message carries the fields its type
// requires and no others (docs/iso8583.md lists them). Unpack checks the
// format of each field; CheckFields checks the message as a whole. A
// *FieldError wraps ErrUnsupportedMTI (naming FieldMTI) for a type outside
// the contract, ErrMissing for the lowest missing field, or ErrNotAllowed
// for the lowest field the type does not carry.
func (m *Message) CheckFields() error {
	r := requirementOf(m.MTI)
	if r == nil {
		return fieldError(FieldMTI, reasonUnsupportedMTI)
	}
	mandatory := r.mandatory
	if r.approval && m.present.has(FieldResponseCode) && m.ResponseCode == ResponseApproved {
		mandatory.set(FieldApprovalCode)
	}
	if missing := mandatory.andNot(m.present); !missing.empty() {
		return fieldError(missing.first(), reasonMissing)
	}
	allowed := bitmap{r.mandatory[0] | r.optional[0], r.mandatory[1] | r.optional[1]}
	if extra := m.present.andNot(allowed); !extra.empty() {
		return fieldError(extra.first(), reasonNotAllowed)
	}
	return nil
}
