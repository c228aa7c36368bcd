package sandboxd

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// The decoding of status details, on statuses built here (the suite in
// sandboxd_test.go checks the same against the real server).
func TestAsErrorDecodesDetails(t *testing.T) {
	st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(
		&errdetails.ErrorInfo{Reason: "CALLER_RATE_LIMITED", Domain: ErrorDomain,
			Metadata: map[string]string{"retryDelayMs": "1500"}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "spec.name", Description: "not a DNS label"}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := fmt.Errorf("calling: %w", asError(st.Err()))
	var e *Error
	if !errors.As(wrapped, &e) {
		t.Fatalf("errors.As(%v) found no *Error", wrapped)
	}
	if e.Code != codes.ResourceExhausted || e.Message != "slow down" ||
		e.Reason != sandboxv1.ErrorReason_CALLER_RATE_LIMITED || e.ReasonName != "CALLER_RATE_LIMITED" ||
		e.Domain != ErrorDomain || e.Metadata["retryDelayMs"] != "1500" || e.RetryDelay != 1500*time.Millisecond ||
		len(e.FieldViolations) != 1 || e.FieldViolations[0] != (FieldViolation{"spec.name", "not a DNS label"}) {
		t.Errorf("decoded %+v", e)
	}
	if !errors.Is(wrapped, ErrResourceExhausted) || errors.Is(wrapped, ErrUnavailable) {
		t.Errorf("errors.Is matches the wrong sentinels")
	}
	if status.Code(e) != codes.ResourceExhausted {
		t.Errorf("status.Code(*Error) = %v", status.Code(e))
	}
	if got, want := e.Error(), "sandboxd: RESOURCE_EXHAUSTED CALLER_RATE_LIMITED: slow down"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestAsErrorKeepsUnknownReasonsAndContextErrors(t *testing.T) {
	st, _ := status.New(codes.FailedPrecondition, "x").WithDetails(
		&errdetails.ErrorInfo{Reason: "A_REASON_OF_THE_FUTURE", Domain: ErrorDomain})
	var e *Error
	if !errors.As(asError(st.Err()), &e) || e.Reason != sandboxv1.ErrorReason_ERROR_REASON_UNSPECIFIED ||
		e.ReasonName != "A_REASON_OF_THE_FUTURE" {
		t.Errorf("unknown reason decoded as %+v", e)
	}
	canceled := asError(status.Error(codes.Canceled, "context canceled"))
	if !errors.Is(canceled, context.Canceled) || !errors.Is(canceled, ErrCanceled) {
		t.Errorf("%v does not match context.Canceled and ErrCanceled", canceled)
	}
	if asError(nil) != nil {
		t.Errorf("asError(nil) != nil")
	}
	plain := errors.New("not a status")
	if asError(plain) != plain {
		t.Errorf("a non-status error was converted")
	}
}
