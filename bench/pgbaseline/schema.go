package pgbaseline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/payswitch/payswitch/ledger"
)

// schemaTemplate is the baseline's schema. It names result codes, flags
// and statuses as {{name}}; schemaSQL replaces them with the ledger's own
// numbers, so that the two can never drift apart.
//
// Balances are bigint, as most teams would store minor units, with checks
// that they stay non-negative. The accounts table is filled to 70% of each
// page so that balance updates stay on their page (HOT updates: no index
// write per update). transfers has only its primary key: no statement
// query runs during the benchmark, and an index it does not need would
// only slow the baseline down.
const schemaTemplate = `
CREATE TABLE IF NOT EXISTS accounts (
	id              uuid     PRIMARY KEY,
	participant     bigint   NOT NULL,
	currency        integer  NOT NULL,
	kind            integer  NOT NULL,
	flags           integer  NOT NULL,
	"limit"         bigint   NOT NULL CHECK ("limit" >= 0),
	debits_pending  bigint   NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
	debits_posted   bigint   NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
	credits_pending bigint   NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
	credits_posted  bigint   NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
	user_ref        bigint   NOT NULL,
	created         timestamptz NOT NULL DEFAULT clock_timestamp()
) WITH (fillfactor = 70);

CREATE TABLE IF NOT EXISTS transfers (
	id             uuid     PRIMARY KEY,
	debit_account  uuid     NOT NULL,
	credit_account uuid     NOT NULL,
	amount         bigint   NOT NULL CHECK (amount >= 0),
	pending_id     uuid     NOT NULL,
	timeout        bigint   NOT NULL,
	currency       integer  NOT NULL,
	code           integer  NOT NULL,
	flags          integer  NOT NULL,
	user_ref       uuid     NOT NULL,
	created        timestamptz NOT NULL DEFAULT clock_timestamp(),
	status         smallint NOT NULL,
	result         integer  NOT NULL
) WITH (fillfactor = 90);

-- create_account opens an account, or answers a retry with account_exists
-- or the first field that differs. Refused accounts are not recorded.
CREATE OR REPLACE FUNCTION create_account(
	p_id uuid, p_participant bigint, p_currency integer, p_kind integer,
	p_flags integer, p_limit bigint, p_user_ref bigint, p_currency_known boolean)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	s accounts%ROWTYPE;
BEGIN
	IF p_id = '00000000-0000-0000-0000-000000000000' THEN
		RETURN {{id_must_not_be_zero}};
	END IF;
	SELECT * INTO s FROM accounts WHERE id = p_id;
	IF NOT FOUND THEN
		IF p_kind < {{kind_min}} OR p_kind > {{kind_max}} THEN RETURN {{account_kind_invalid}}; END IF;
		IF p_flags & ~{{account_flags_known}} <> 0 THEN RETURN {{account_flags_unknown}}; END IF;
		IF p_flags & {{debits_must_not_exceed_credits}} <> 0 AND p_flags & {{credits_must_not_exceed_debits}} <> 0 THEN
			RETURN {{account_flags_are_mutually_exclusive}};
		END IF;
		IF p_participant = 0 THEN RETURN {{participant_must_not_be_zero}}; END IF;
		IF NOT p_currency_known THEN RETURN {{currency_unknown}}; END IF;
		INSERT INTO accounts (id, participant, currency, kind, flags, "limit", user_ref)
		VALUES (p_id, p_participant, p_currency, p_kind, p_flags, p_limit, p_user_ref)
		ON CONFLICT (id) DO NOTHING;
		IF FOUND THEN
			RETURN {{ok}};
		END IF;
		-- Another session created it since the look-up: compare with that.
		SELECT * INTO s FROM accounts WHERE id = p_id;
	END IF;
	RETURN CASE
		WHEN s.participant <> p_participant THEN {{account_exists_with_different_participant}}
		WHEN s.currency <> p_currency THEN {{account_exists_with_different_currency}}
		WHEN s.kind <> p_kind THEN {{account_exists_with_different_kind}}
		WHEN s.flags <> p_flags THEN {{account_exists_with_different_flags}}
		WHEN s."limit" <> p_limit THEN {{account_exists_with_different_limit}}
		WHEN s.user_ref <> p_user_ref THEN {{account_exists_with_different_user_ref}}
		ELSE {{account_exists}}
	END;
END $$;

-- transfer_invalid checks a transfer's fields alone, in the order of the
-- ledger's codes, and returns the first failure or ok.
CREATE OR REPLACE FUNCTION transfer_invalid(
	p_id uuid, p_debit uuid, p_credit uuid, p_amount bigint, p_pending_id uuid,
	p_timeout bigint, p_currency integer, p_flags integer)
RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	zero constant uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
	IF p_flags & ~{{transfer_flags_known}} <> 0 THEN RETURN {{flags_unknown}}; END IF;
	IF (p_flags & {{pending}} <> 0)::integer + (p_flags & {{post_pending}} <> 0)::integer
		+ (p_flags & {{void_pending}} <> 0)::integer > 1 THEN
		RETURN {{flags_are_mutually_exclusive}};
	END IF;
	IF p_flags & ({{post_pending}} | {{void_pending}}) <> 0 THEN
		RETURN CASE
			WHEN p_pending_id = zero THEN {{pending_id_must_not_be_zero}}
			WHEN p_pending_id = p_id THEN {{pending_id_must_be_different}}
			WHEN p_timeout <> 0 THEN {{timeout_reserved_for_pending_transfer}}
			ELSE {{ok}}
		END;
	END IF;
	RETURN CASE
		WHEN p_pending_id <> zero THEN {{pending_id_must_be_zero}}
		WHEN p_flags & {{pending}} = 0 AND p_timeout <> 0 THEN {{timeout_reserved_for_pending_transfer}}
		WHEN p_timeout > {{timeout_seconds_max}} THEN {{timeout_too_large}}
		WHEN p_debit = zero THEN {{debit_account_must_not_be_zero}}
		WHEN p_credit = zero THEN {{credit_account_must_not_be_zero}}
		WHEN p_debit = p_credit THEN {{accounts_must_be_different}}
		WHEN p_currency = 0 THEN {{currency_must_not_be_zero}}
		WHEN p_amount = 0 THEN {{amount_must_not_be_zero}}
		ELSE {{ok}}
	END;
END $$;

-- transfer_exists answers a transfer whose ID is already recorded as s:
-- exists or the first field that differs; for a rejected record, the same
-- reason to an identical retry and id_already_failed to a different one.
-- A post or void record holds the accounts, currency and amount it took
-- from its pending transfer, so a zero in the retry matches them, and a
-- zero amount matches a post of the whole pending amount.
CREATE OR REPLACE FUNCTION transfer_exists(
	s transfers, p_debit uuid, p_credit uuid, p_amount bigint, p_pending_id uuid,
	p_timeout bigint, p_currency integer, p_code integer, p_flags integer, p_user_ref uuid)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
DECLARE
	zero constant uuid := '00000000-0000-0000-0000-000000000000';
	inherit boolean := p_flags & ({{post_pending}} | {{void_pending}}) <> 0 AND s.status <> {{status_rejected}};
	full_amount bigint := s.amount;
	c integer;
BEGIN
	IF p_amount = 0 AND s.flags & {{post_pending}} <> 0 AND s.status <> {{status_rejected}} THEN
		full_amount := coalesce((SELECT amount FROM transfers WHERE id = s.pending_id), s.amount);
	END IF;
	c := CASE
		WHEN s.flags <> p_flags THEN {{exists_with_different_flags}}
		WHEN s.pending_id <> p_pending_id THEN {{exists_with_different_pending_id}}
		WHEN s.timeout <> p_timeout THEN {{exists_with_different_timeout}}
		WHEN s.debit_account <> p_debit AND NOT (inherit AND p_debit = zero) THEN {{exists_with_different_debit_account}}
		WHEN s.credit_account <> p_credit AND NOT (inherit AND p_credit = zero) THEN {{exists_with_different_credit_account}}
		WHEN s.amount <> p_amount AND NOT (inherit AND p_amount = 0 AND s.amount = full_amount) THEN {{exists_with_different_amount}}
		WHEN s.currency <> p_currency AND NOT (inherit AND p_currency = 0) THEN {{exists_with_different_currency}}
		WHEN s.code <> p_code THEN {{exists_with_different_code}}
		WHEN s.user_ref <> p_user_ref THEN {{exists_with_different_user_ref}}
		ELSE {{exists}}
	END;
	IF s.status = {{status_rejected}} THEN
		RETURN CASE WHEN c = {{exists}} THEN s.result ELSE {{id_already_failed}} END;
	END IF;
	RETURN c;
END $$;

-- transfer_move makes a single-phase or a pending transfer. It locks both
-- accounts in ID order, so that two transfers between the same accounts,
-- in either direction, cannot deadlock, and it holds the locks until the
-- commit. It returns ok after writing the record and the balances, a
-- rejection code having written nothing, or -1 when another session
-- recorded the same transfer ID first (then it has written nothing either).
CREATE OR REPLACE FUNCTION transfer_move(
	p_id uuid, p_debit uuid, p_credit uuid, p_amount bigint, p_timeout bigint,
	p_currency integer, p_code integer, p_flags integer, p_user_ref uuid)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	big constant bigint := 9223372036854775807;
	a accounts%ROWTYPE;
	d accounts%ROWTYPE;
	c accounts%ROWTYPE;
	new_status smallint := {{status_posted}};
BEGIN
	FOR a IN SELECT * FROM accounts WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE LOOP
		IF a.id = p_debit THEN d := a; ELSE c := a; END IF;
	END LOOP;
	IF d.id IS NULL THEN RETURN {{debit_account_not_found}}; END IF;
	IF c.id IS NULL THEN RETURN {{credit_account_not_found}}; END IF;
	IF d.currency <> p_currency OR c.currency <> p_currency THEN RETURN {{currency_mismatch}}; END IF;
	-- Overflow is checked by subtraction, which cannot itself overflow.
	IF p_flags & {{pending}} <> 0 THEN
		IF p_amount > big - d.debits_pending OR p_amount > big - c.credits_pending THEN RETURN {{overflow}}; END IF;
		d.debits_pending := d.debits_pending + p_amount;
		c.credits_pending := c.credits_pending + p_amount;
		new_status := {{status_pending}};
	ELSE
		IF p_amount > big - d.debits_posted OR p_amount > big - c.credits_posted THEN RETURN {{overflow}}; END IF;
		d.debits_posted := d.debits_posted + p_amount;
		c.credits_posted := c.credits_posted + p_amount;
	END IF;
	IF d.debits_pending > big - d.debits_posted OR c.credits_pending > big - c.credits_posted THEN
		RETURN {{overflow}};
	END IF;
	-- The balance rules. The right-hand sides are numeric, which cannot
	-- overflow, so a limit near the top of bigint cannot be exceeded.
	IF d.flags & {{debits_must_not_exceed_credits}} <> 0
		AND d.debits_pending + d.debits_posted > d.credits_posted::numeric + d."limit" THEN
		RETURN {{exceeds_credits}};
	END IF;
	IF c.flags & {{credits_must_not_exceed_debits}} <> 0
		AND c.credits_pending + c.credits_posted > c.debits_posted::numeric + c."limit" THEN
		RETURN {{exceeds_debits}};
	END IF;
	-- The record first: if the ID is taken, nothing else is written.
	INSERT INTO transfers (id, debit_account, credit_account, amount, pending_id, timeout,
		currency, code, flags, user_ref, status, result)
	VALUES (p_id, p_debit, p_credit, p_amount, '00000000-0000-0000-0000-000000000000', p_timeout,
		p_currency, p_code, p_flags, p_user_ref, new_status, {{ok}})
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN RETURN -1; END IF;
	UPDATE accounts SET debits_pending = d.debits_pending, debits_posted = d.debits_posted WHERE id = p_debit;
	UPDATE accounts SET credits_pending = c.credits_pending, credits_posted = c.credits_posted WHERE id = p_credit;
	RETURN {{ok}};
END $$;

-- transfer_resolve posts or voids a pending transfer. It locks the pending
-- record first, so that two resolutions of one pending transfer run one
-- after the other and the second sees the first's outcome, then both
-- accounts in ID order. Results as for transfer_move.
CREATE OR REPLACE FUNCTION transfer_resolve(
	p_id uuid, p_debit uuid, p_credit uuid, p_amount bigint, p_pending_id uuid,
	p_currency integer, p_code integer, p_flags integer, p_user_ref uuid)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	big constant bigint := 9223372036854775807;
	zero constant uuid := '00000000-0000-0000-0000-000000000000';
	p transfers%ROWTYPE;
	a accounts%ROWTYPE;
	d accounts%ROWTYPE;
	c accounts%ROWTYPE;
	post_amount bigint;
	new_status smallint := {{status_voided}};
BEGIN
	SELECT * INTO p FROM transfers WHERE id = p_pending_id FOR UPDATE;
	IF NOT FOUND OR p.status = {{status_rejected}} THEN RETURN {{pending_transfer_not_found}}; END IF;
	IF p.flags & {{pending}} = 0 THEN RETURN {{pending_transfer_not_pending}}; END IF;
	IF p_debit <> zero AND p_debit <> p.debit_account THEN RETURN {{pending_transfer_has_different_debit_account}}; END IF;
	IF p_credit <> zero AND p_credit <> p.credit_account THEN RETURN {{pending_transfer_has_different_credit_account}}; END IF;
	IF p_currency <> 0 AND p_currency <> p.currency THEN RETURN {{pending_transfer_has_different_currency}}; END IF;
	IF p_flags & {{post_pending}} <> 0 AND p_amount > p.amount THEN RETURN {{exceeds_pending_transfer_amount}}; END IF;
	IF p_flags & {{void_pending}} <> 0 AND p_amount <> 0 AND p_amount <> p.amount THEN
		RETURN {{pending_transfer_has_different_amount}};
	END IF;
	IF p.status = {{status_posted}} THEN RETURN {{pending_transfer_already_posted}}; END IF;
	IF p.status = {{status_voided}} THEN RETURN {{pending_transfer_already_voided}}; END IF;
	IF p.status = {{status_expired}} THEN RETURN {{pending_transfer_expired}}; END IF;
	-- No sweeper voids overdue reservations here; a late post is refused
	-- as the ledger refuses one that its expiry has not swept yet.
	IF p.timeout <> 0 AND p.created + p.timeout * interval '1 second' <= clock_timestamp() THEN
		RETURN {{pending_transfer_expired}};
	END IF;
	post_amount := p.amount;
	IF p_flags & {{post_pending}} <> 0 AND p_amount <> 0 THEN post_amount := p_amount; END IF;
	FOR a IN SELECT * FROM accounts WHERE id IN (p.debit_account, p.credit_account) ORDER BY id FOR UPDATE LOOP
		IF a.id = p.debit_account THEN d := a; ELSE c := a; END IF;
	END LOOP;
	IF d.id IS NULL OR c.id IS NULL THEN RETURN {{pending_transfer_not_found}}; END IF;
	-- The pending balances hold the pending amount: only this function
	-- takes it out, under the pending record's lock.
	d.debits_pending := d.debits_pending - p.amount;
	c.credits_pending := c.credits_pending - p.amount;
	IF p_flags & {{post_pending}} <> 0 THEN
		IF post_amount > big - d.debits_posted OR post_amount > big - c.credits_posted THEN RETURN {{overflow}}; END IF;
		d.debits_posted := d.debits_posted + post_amount;
		c.credits_posted := c.credits_posted + post_amount;
		IF d.debits_pending > big - d.debits_posted OR c.credits_pending > big - c.credits_posted THEN
			RETURN {{overflow}};
		END IF;
		new_status := {{status_posted}};
	END IF;
	INSERT INTO transfers (id, debit_account, credit_account, amount, pending_id, timeout,
		currency, code, flags, user_ref, status, result)
	VALUES (p_id, p.debit_account, p.credit_account, post_amount, p_pending_id, 0,
		p.currency, p_code, p_flags, p_user_ref, new_status, {{ok}})
	ON CONFLICT (id) DO NOTHING;
	IF NOT FOUND THEN RETURN -1; END IF;
	UPDATE transfers SET status = new_status WHERE id = p_pending_id;
	UPDATE accounts SET debits_pending = d.debits_pending, debits_posted = d.debits_posted WHERE id = d.id;
	UPDATE accounts SET credits_pending = c.credits_pending, credits_posted = c.credits_posted WHERE id = c.id;
	RETURN {{ok}};
END $$;

-- transfer applies one transfer, in the ledger's order of checks: the zero
-- ID, then idempotency (before any field is validated and any account is
-- read), then the fields, then the state. A rejection is recorded under
-- the transfer's ID with its reason, so that the ID stays rejected.
CREATE OR REPLACE FUNCTION transfer(
	p_id uuid, p_debit uuid, p_credit uuid, p_amount bigint, p_pending_id uuid,
	p_timeout bigint, p_currency integer, p_code integer, p_flags integer, p_user_ref uuid)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	s transfers%ROWTYPE;
	r integer;
BEGIN
	IF p_id = '00000000-0000-0000-0000-000000000000' THEN RETURN {{id_must_not_be_zero}}; END IF;
	SELECT * INTO s FROM transfers WHERE id = p_id;
	IF FOUND THEN
		RETURN transfer_exists(s, p_debit, p_credit, p_amount, p_pending_id, p_timeout, p_currency, p_code, p_flags, p_user_ref);
	END IF;
	r := transfer_invalid(p_id, p_debit, p_credit, p_amount, p_pending_id, p_timeout, p_currency, p_flags);
	IF r = {{ok}} AND p_flags & ({{post_pending}} | {{void_pending}}) <> 0 THEN
		r := transfer_resolve(p_id, p_debit, p_credit, p_amount, p_pending_id, p_currency, p_code, p_flags, p_user_ref);
	ELSIF r = {{ok}} THEN
		r := transfer_move(p_id, p_debit, p_credit, p_amount, p_timeout, p_currency, p_code, p_flags, p_user_ref);
	END IF;
	IF r NOT IN ({{ok}}, -1) THEN
		INSERT INTO transfers (id, debit_account, credit_account, amount, pending_id, timeout,
			currency, code, flags, user_ref, status, result)
		VALUES (p_id, p_debit, p_credit, p_amount, p_pending_id, p_timeout,
			p_currency, p_code, p_flags, p_user_ref, {{status_rejected}}, r)
		ON CONFLICT (id) DO NOTHING;
		IF FOUND THEN RETURN r; END IF;
	END IF;
	IF r = {{ok}} THEN RETURN r; END IF;
	-- Another session recorded this ID while this one was checking it:
	-- answer as a retry of that record, which has committed by now.
	SELECT * INTO s FROM transfers WHERE id = p_id;
	RETURN transfer_exists(s, p_debit, p_credit, p_amount, p_pending_id, p_timeout, p_currency, p_code, p_flags, p_user_ref);
END $$;
`

// schemaSQL returns the schema with every {{name}} replaced by its number.
// It panics on a name it does not know: that is a bug in the template,
// caught by every test that opens a database.
func schemaSQL() string {
	pairs := []string{
		"{{ok}}", strconv.Itoa(int(ledger.OK)),
		"{{kind_min}}", strconv.Itoa(int(ledger.KindPosition)),
		"{{kind_max}}", strconv.Itoa(int(ledger.KindHub)),
		"{{debits_must_not_exceed_credits}}", strconv.Itoa(int(ledger.DebitsMustNotExceedCredits)),
		"{{credits_must_not_exceed_debits}}", strconv.Itoa(int(ledger.CreditsMustNotExceedDebits)),
		"{{account_flags_known}}", strconv.Itoa(int(ledger.DebitsMustNotExceedCredits | ledger.CreditsMustNotExceedDebits)),
		"{{pending}}", strconv.Itoa(int(ledger.Pending)),
		"{{post_pending}}", strconv.Itoa(int(ledger.PostPending)),
		"{{void_pending}}", strconv.Itoa(int(ledger.VoidPending)),
		"{{transfer_flags_known}}", strconv.Itoa(int(ledger.Linked | ledger.Pending | ledger.PostPending | ledger.VoidPending)),
		"{{timeout_seconds_max}}", strconv.Itoa(ledger.TimeoutSecondsMax),
		"{{status_posted}}", strconv.Itoa(int(ledger.StatusPosted)),
		"{{status_pending}}", strconv.Itoa(int(ledger.StatusPending)),
		"{{status_voided}}", strconv.Itoa(int(ledger.StatusVoided)),
		"{{status_expired}}", strconv.Itoa(int(ledger.StatusExpired)),
		"{{status_rejected}}", strconv.Itoa(int(ledger.StatusRejected)),
	}
	for _, c := range ledger.Codes() {
		pairs = append(pairs, "{{"+c.String()+"}}", strconv.FormatUint(uint64(c), 10))
	}
	sql := strings.NewReplacer(pairs...).Replace(schemaTemplate)
	if i := strings.Index(sql, "{{"); i >= 0 {
		end := min(i+60, len(sql))
		panic(fmt.Sprintf("pgbaseline: unknown name in the schema template: %s", sql[i:end]))
	}
	return sql
}
