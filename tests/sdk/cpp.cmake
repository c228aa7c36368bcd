# The C++ client (client/): its library against a real sandboxd, sandboxctl end to end,
# and the installed package used by an outside project (client/examples).

sandboxd_add_test(NAME client_retry_policy_test LABEL unit
  SRCS ${CMAKE_CURRENT_LIST_DIR}/cpp/retry_policy_test.cc DEPS sandboxd::client)
# Retries of the migration calls against an in-process server that fails chosen attempts.
sandboxd_add_test(NAME client_migration_retry_test LABEL unit
  SRCS ${CMAKE_CURRENT_LIST_DIR}/cpp/migration_retry_test.cc DEPS sandboxd::client)

add_executable(client_sdk_test ${CMAKE_CURRENT_LIST_DIR}/cpp/client_sdk_test.cc)
target_link_libraries(client_sdk_test PRIVATE sandboxd::client GTest::gmock GTest::gtest
  GTest::gtest_main)
sandboxd_add_sdk_test(NAME cpp_client_sdk COMMAND $<TARGET_FILE:client_sdk_test>)

sandboxd_add_sdk_test(NAME cpp_sandboxctl
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/cpp/sandboxctl_test.sh $<TARGET_FILE:sandboxctl>)
# migrate and rollback over Deployment-era sandboxes made with the admin kubectl.
sandboxd_add_sdk_test(NAME cpp_sandboxctl_migration
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/cpp/sandboxctl_migration_test.sh $<TARGET_FILE:sandboxctl>)
# TLS and mutual TLS against a second sandboxd with a test CA.
sandboxd_add_sdk_test(NAME cpp_sandboxctl_tls
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/cpp/sandboxctl_tls_test.sh $<TARGET_FILE:sandboxctl>
          $<TARGET_FILE:sandboxd>)

# Installs the client package into a temporary prefix, builds client/examples against it
# with find_package(sandboxd) and the compiler of this build (a sanitizer build's library
# needs the sanitizer runtimes at link time), and runs the example against sandboxd.
sandboxd_add_sdk_test(NAME cpp_client_example
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/cpp/example_test.sh ${CMAKE_BINARY_DIR}
          ${PROJECT_SOURCE_DIR}/client/examples ${CMAKE_CXX_COMPILER}
          "${SANDBOXD_SANITIZER_LINK_FLAGS}")
