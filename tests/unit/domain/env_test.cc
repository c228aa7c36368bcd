#include "src/domain/env.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace sandboxd::domain {
namespace {

using Env = std::map<std::string, std::string>;

struct Case {
  const char* name;
  Env current;
  Env set;
  std::vector<std::string> remove;
  Env want;
  bool want_changed;
};

TEST(ApplyEnvUpdateTest, Table) {
  const Case cases[] = {
      {"empty update", {{"A", "1"}}, {}, {}, {{"A", "1"}}, false},
      {"add key", {{"A", "1"}}, {{"B", "2"}}, {}, {{"A", "1"}, {"B", "2"}}, true},
      {"overwrite key", {{"A", "1"}}, {{"A", "2"}}, {}, {{"A", "2"}}, true},
      {"same value is no change", {{"A", "1"}}, {{"A", "1"}}, {}, {{"A", "1"}}, false},
      {"remove key", {{"A", "1"}, {"B", "2"}}, {}, {"A"}, {{"B", "2"}}, true},
      {"remove absent key is no change", {{"A", "1"}}, {}, {"Z"}, {{"A", "1"}}, false},
      {"set empty value", {{"A", "1"}}, {{"A", ""}}, {}, {{"A", ""}}, true},
      {"keeps untouched keys", {{"A", "1"}, {"B", "2"}, {"C", "3"}}, {{"B", "20"}}, {"C"},
       {{"A", "1"}, {"B", "20"}}, true},
      {"into empty env", {}, {{"X", "y"}}, {}, {{"X", "y"}}, true},
      {"remove everything", {{"A", "1"}}, {}, {"A"}, {}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EnvUpdate update;
    update.set = c.set;
    update.remove = c.remove;
    EnvUpdateResult got = ApplyEnvUpdate(c.current, update);
    EXPECT_EQ(got.env, c.want);
    EXPECT_EQ(got.changed, c.want_changed);
  }
}

TEST(EnvOrderTest, KeepsPlacesDropsRemovedAppendsNewKeys) {
  const std::vector<kube::EnvVar> current = {
      {"ZED", "1", false}, {"SECRET", "", true}, {"A", "2", false}, {"GONE", "3", false}};
  EnvUpdate update;
  update.set = {{"NEW2", "x"}, {"A", "changed"}, {"NEW1", "y"}};
  update.remove = {"GONE"};
  EXPECT_EQ(EnvOrderAfterUpdate(current, update),
            (std::vector<std::string>{"ZED", "SECRET", "A", "NEW1", "NEW2"}));
}

}  // namespace
}  // namespace sandboxd::domain
