# The Go SDK (sdk/go): go vet, then go test against the real sandboxd.
sandboxd_add_sdk_test(NAME sdk_go COMMAND ${PROJECT_SOURCE_DIR}/sdk/go/test.sh)
