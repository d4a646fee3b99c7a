package flow

import (
	"errors"

	"github.com/payswitch/payswitch/switch/iso8583"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	payments *prometheus.CounterVec
	leg      *prometheus.HistogramVec
	// The legs' histograms and the approvals' counter, looked up once:
	// a label lookup on every payment cost more than the observation.
	legRoute, legReserve, legPayee, legFinish, legTotal prometheus.Observer
	approved                                            prometheus.Counter
	resends                                             prometheus.Counter
	late                                                prometheus.Counter
	shed                                                prometheus.Counter
	heldForAdvices                                      prometheus.Counter
	advicesOwed                                         prometheus.Gauge
	advicesSent                                         prometheus.Counter
	advicesAnswered                                     prometheus.Counter
	adviceAnswersIgnored                                prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payswitch_payments_total", Help: "Payments answered, by ISO 8583 response code.",
		}, []string{"result"}),
		leg: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "payswitch_payment_leg_seconds", Help: "Time of each leg of a payment: route, reserve, payee (forward to answer), finish (post or void), total.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"leg"}),
		resends: prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_payment_resends_total", Help: "Resent payment requests answered from the first one."}),
		late:    prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_payment_late_responses_total", Help: "Payee responses after the deadline or for unknown payments, logged and ignored."}),
		shed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_payments_shed_total", Help: "Payments refused with 91 because too many were in progress."}),
		heldForAdvices: prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_payments_held_for_advices_total",
			Help: "Payments refused with 91 because their payee (or a pull's payer bank) had not acknowledged flow.Config.AdvicesOwedMax reversal advices."}),
		advicesOwed:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "payswitch_advices_owed", Help: "Reversal advices this node recorded as owed minus those answered, since it started."}),
		advicesSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_advices_sent_total", Help: "Reversal advices sent, resends included."}),
		advicesAnswered: prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_advices_answered_total", Help: "Reversal advices answered with 0430."}),
		adviceAnswersIgnored: prometheus.NewCounter(prometheus.CounterOpts{Name: "payswitch_advice_answers_ignored_total",
			Help: "0430s ignored: for an advice not owed to their sender, or beyond the acknowledgements in progress (the advice is sent again)."}),
	}
	m.legRoute, m.legReserve = m.leg.WithLabelValues("route"), m.leg.WithLabelValues("reserve")
	m.legPayee, m.legFinish = m.leg.WithLabelValues("payee"), m.leg.WithLabelValues("finish")
	m.legTotal = m.leg.WithLabelValues("total")
	m.approved = m.payments.WithLabelValues(iso8583.ResponseApproved.String())
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.payments, m.leg, m.resends, m.late, m.shed, m.heldForAdvices, m.advicesOwed, m.advicesSent, m.advicesAnswered, m.adviceAnswersIgnored} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

// payment counts a payment answered with code.
func (m *metrics) payment(code iso8583.ResponseCode) {
	if code == iso8583.ResponseApproved {
		m.approved.Inc()
		return
	}
	m.payments.WithLabelValues(code.String()).Inc()
}
