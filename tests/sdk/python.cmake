# The Python SDK (sdk/python): mypy --strict and pytest against a real sandboxd.
sandboxd_add_sdk_test(NAME sdk_python COMMAND ${PROJECT_SOURCE_DIR}/sdk/python/run_tests.sh)
