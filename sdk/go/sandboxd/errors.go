package sandboxd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sandboxd/sandboxd/sdk/go/sandboxv1"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error sandboxd returns.
const ErrorDomain = "sandboxd.dev"

// Sentinel errors, one per status code a caller usually branches on. Every *Error
// matches the sentinel of its code with errors.Is:
//
//	if errors.Is(err, sandboxd.ErrNotFound) { ... }
var (
	ErrInvalidArgument    error = sentinel(codes.InvalidArgument)
	ErrNotFound           error = sentinel(codes.NotFound)
	ErrAlreadyExists      error = sentinel(codes.AlreadyExists)
	ErrPermissionDenied   error = sentinel(codes.PermissionDenied)
	ErrUnauthenticated    error = sentinel(codes.Unauthenticated)
	ErrFailedPrecondition error = sentinel(codes.FailedPrecondition)
	ErrAborted            error = sentinel(codes.Aborted)
	ErrResourceExhausted  error = sentinel(codes.ResourceExhausted)
	ErrUnavailable        error = sentinel(codes.Unavailable)
	ErrDeadlineExceeded   error = sentinel(codes.DeadlineExceeded)
	ErrCanceled           error = sentinel(codes.Canceled)
	ErrInternal           error = sentinel(codes.Internal)
	ErrUnimplemented      error = sentinel(codes.Unimplemented)
)

// sentinel is the type of the Err* values: a status code and nothing else.
type sentinel codes.Code

func (s sentinel) Error() string { return "sandboxd: " + codeName(codes.Code(s)) }

// FieldViolation is one entry of a google.rpc.BadRequest: a request field (a path
// relative to the request message, e.g. "spec.storage.size") and what is wrong with it.
type FieldViolation struct {
	Field       string
	Description string
}

// Error is an error returned by sandboxd (or by gRPC on its behalf), decoded from the
// google.rpc.Status in the call's trailers. Every method of Client returns its errors as
// *Error, so errors.As(err, &e) gives the details and errors.Is(err, ErrNotFound)
// tests the code; a Canceled or DeadlineExceeded *Error also matches context.Canceled
// or context.DeadlineExceeded.
type Error struct {
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the status message, for people.
	Message string
	// Reason is ErrorInfo.reason as an enum value; ERROR_REASON_UNSPECIFIED when the
	// error carries no ErrorInfo (e.g. a transport failure) or a reason this SDK does not
	// know yet (ReasonName then still has it): branch on Code in that case.
	Reason sandboxv1.ErrorReason
	// ReasonName is ErrorInfo.reason as sent; empty without an ErrorInfo.
	ReasonName string
	// Domain is ErrorInfo.domain (ErrorDomain for sandboxd's own errors).
	Domain string
	// Metadata is ErrorInfo.metadata, e.g. "field" and "why" for INVALID_FIELD.
	Metadata map[string]string
	// FieldViolations are the google.rpc.BadRequest field violations (INVALID_ARGUMENT).
	FieldViolations []FieldViolation
	// RetryDelay is google.rpc.RetryInfo.retry_delay (RESOURCE_EXHAUSTED); 0 without one.
	RetryDelay time.Duration
	// Status is the whole decoded status, for details this type does not lift out.
	Status *status.Status
}

func (e *Error) Error() string {
	reason := ""
	if e.ReasonName != "" {
		reason = " " + e.ReasonName
	}
	return fmt.Sprintf("sandboxd: %s%s: %s", codeName(e.Code), reason, e.Message)
}

// Is reports whether target is the sentinel of e's code (or, for Canceled and
// DeadlineExceeded, the context package's error of that name).
func (e *Error) Is(target error) bool {
	switch target {
	case context.Canceled:
		return e.Code == codes.Canceled
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	}
	s, ok := target.(sentinel)
	return ok && codes.Code(s) == e.Code
}

// GRPCStatus lets status.FromError and status.Code see through an *Error.
func (e *Error) GRPCStatus() *status.Status { return e.Status }

// asError converts an error of a gRPC call into an *Error; nil stays nil and an error
// that carries no gRPC status is returned unchanged.
func asError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message(), Status: st}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			e.ReasonName = d.GetReason()
			e.Domain = d.GetDomain()
			e.Metadata = d.GetMetadata()
			if v, known := sandboxv1.ErrorReason_value[d.GetReason()]; known {
				e.Reason = sandboxv1.ErrorReason(v)
			}
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.FieldViolations = append(e.FieldViolations,
					FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		case *errdetails.RetryInfo:
			e.RetryDelay = d.GetRetryDelay().AsDuration()
		}
	}
	return e
}

// codeName is a code's canonical upper-case name, e.g. "NOT_FOUND".
func codeName(c codes.Code) string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return c.String()
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
	codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
	codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
	codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
	codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
	codes.Unauthenticated: "UNAUTHENTICATED",
}
