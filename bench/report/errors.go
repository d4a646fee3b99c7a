package report

import "errors"

// Errors of this package; test for them with errors.Is.
var (
	// ErrChart is wrapped by the errors about a chart that cannot be drawn:
	// lengths that do not match, too many series or points, no data of a
	// kind the chart needs.
	ErrChart = errors.New("report: invalid chart")
	// ErrTable is wrapped by the errors about a table: too many rows, or a
	// row longer than the header.
	ErrTable = errors.New("report: invalid table")
)
