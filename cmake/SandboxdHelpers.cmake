include(GoogleTest)

# sandboxd_add_test(NAME <name> LABEL <unit|integration|e2e> SRCS <files...> DEPS <targets...>)
# One GoogleTest executable whose tests ctest discovers and labels, so one tier can be run
# with `ctest -L unit`.
function(sandboxd_add_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SRCS;DEPS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gmock GTest::gtest GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
    SANDBOXD_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${T_NAME}
    PROPERTIES LABELS ${T_LABEL}
    DISCOVERY_TIMEOUT 60)
endfunction()
