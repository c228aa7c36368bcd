# The TypeScript SDK's suite (sdk/ts): npm ci, build, node --test against a real sandboxd.
sandboxd_add_sdk_test(NAME sdk_ts COMMAND ${PROJECT_SOURCE_DIR}/sdk/ts/test.sh)
