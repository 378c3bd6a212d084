#include "server/proto_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "curator/v1/ctl.pb.h"
#include "curator/v1/services.pb.h"

namespace curator {
namespace {

TEST(ProtoJsonTest, EveryFieldInDeclarationOrderWithNumbersAsNumbers) {
  v1::TaskInfo t;
  t.set_task_id(9007199254740993);  // 2^53 + 1: exact only as an integer
  t.set_cu(v1::CU4);
  t.set_night("20071021");
  const std::string text = JsonText(ProtoToJson(t));
  EXPECT_EQ(
      text.rfind(
          "{\"task_id\":9007199254740993,\"night\":\"20071021\",\"cu\":\"CU4\","
          "\"state\":\"\",\"files\":0,",
          0),
      0u)
      << text;
  // Defaults are there: a script can read every key without checking.
  const nlohmann::ordered_json back = nlohmann::ordered_json::parse(text);
  EXPECT_EQ(back.at("attempts"), 0);
  EXPECT_TRUE(back.at("waiting_for").is_array());
  EXPECT_EQ(back.at("task_id").get<int64_t>(), 9007199254740993);
}

TEST(ProtoJsonTest, MapsSortedByKey) {
  v1::BatchInfo a, b;
  for (const char* table : {"multiframe", "detection", "multiframe_detector"}) {
    (*a.mutable_rows_by_table())[table] = 7;
  }
  for (const char* table : {"multiframe_detector", "multiframe", "detection"}) {
    (*b.mutable_rows_by_table())[table] = 7;
  }
  const std::string ta = JsonText(ProtoToJson(a));
  EXPECT_EQ(ta, JsonText(ProtoToJson(b)));
  EXPECT_NE(ta.find("\"rows_by_table\":{\"detection\":7,\"multiframe\":7,"
                    "\"multiframe_detector\":7}"),
            std::string::npos)
      << ta;
}

TEST(ProtoJsonTest, HostileStringsAndNonFiniteNumbersStayValidJson) {
  v1::TaskInfo t;
  t.set_last_error(
      std::string("tab\there \"quoted\" back\\slash nul\0 bell\a bad\xff", 44));
  t.set_elapsed_seconds(NAN);
  t.set_remaining_seconds(INFINITY);
  const std::string text = JsonText(ProtoToJson(t));
  const nlohmann::json back = nlohmann::json::parse(text);  // throws if invalid
  EXPECT_TRUE(back.at("elapsed_seconds").is_null());
  EXPECT_TRUE(back.at("remaining_seconds").is_null());
  const std::string error = back.at("last_error");
  EXPECT_EQ(error.substr(0, 28), "tab\there \"quoted\" back\\slash");
  EXPECT_NE(error.find(std::string("nul\0 bell\a", 10)), std::string::npos);
  EXPECT_NE(error.find("bad\xef\xbf\xbd"), std::string::npos);  // U+FFFD
}

TEST(ProtoJsonTest, DescribeNamesFieldsTypesAndEnums) {
  nlohmann::ordered_json schemas = nlohmann::ordered_json::object();
  Describe(v1::WatchUpdate::descriptor(), &schemas);
  ASSERT_TRUE(schemas.contains("curator.v1.WatchUpdate"));
  ASSERT_TRUE(schemas.contains("curator.v1.TaskInfo"));
  ASSERT_TRUE(schemas.contains("curator.v1.StatusSummary"));
  EXPECT_EQ(schemas["curator.v1.Cu"]["enum"],
            nlohmann::ordered_json::array(
                {"CU_UNSPECIFIED", "CU2", "CU3", "CU4", "CU5"}));
  const auto& fields = schemas["curator.v1.TaskInfo"]["fields"];
  EXPECT_EQ(fields[0],
            nlohmann::ordered_json({{"name", "task_id"}, {"type", "integer"}}));
  EXPECT_EQ(fields[2]["type"], "curator.v1.Cu");
  const auto& totals = schemas["curator.v1.StatusSummary"]["fields"][0];
  EXPECT_EQ(totals["type"], "object");
  EXPECT_EQ(totals["values"], "integer");
}

}  // namespace
}  // namespace curator
