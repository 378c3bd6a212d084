// curator-worker's gRPC server on loopback: health, load, tasks run and
// ingested, idempotent resubmission, cancellation, refused requests.
#include <grpcpp/create_channel.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "archive/task_log.h"
#include "curator/v1/services.grpc.pb.h"
#include "archive/file_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/grpc_health.h"
#include "tests/support/http.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"
#include "worker/server.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kToken[] = "worker-test-token-0123456789";

class WorkerServerTest : public testing::PipelineTest {
 protected:
  // A call with the operator token, as the daemon makes them.
  static std::unique_ptr<grpc::ClientContext> Authorized() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    return ctx;
  }
  void StartServer(int slots) {
    v1::Config config;
    config.set_archive_root(archive_);
    config.mutable_database()->set_conninfo(conninfo());
    config.mutable_worker()->set_listen_address("127.0.0.1:0");
    config.mutable_worker()->set_slots(slots);
    config.mutable_worker()->set_metrics_address("127.0.0.1:0");
    config.mutable_security()->set_plaintext(true);
    const std::string token = archive_dir_.Join("token");
    std::ofstream(token) << kToken << "\n";
    config.mutable_security()->set_token_file(token);
    auto s = worker::WorkerServer::Create(config);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Worker::NewStub(channel_);
  }

  v1::RunTaskRequest Request(const std::string& id, int cu, const std::string& night) {
    v1::RunTaskRequest r;
    r.set_task_id(id);
    r.set_cu(static_cast<v1::Cu>(cu));
    r.set_night(night);
    r.set_cu_event_id(*tasklog::StartEvent(*conn_, cu, "process", night, "test"));
    auto images = archive::RegisteredImages(*conn_, night);
    EXPECT_TRUE(images.ok()) << images.status();
    for (const auto& i : *images) {
      v1::TaskFile* f = r.add_files();
      f->set_multiframe_id(i.multiframe_id);
      f->set_path(i.path);
      f->set_file_name(i.file_name);
      f->set_file_time_stamp_us(absl::ToUnixMicros(i.file_time_stamp));
      f->set_cat_name(i.cat_name);
    }
    return r;
  }

  v1::TaskStatus StatusOf(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetStatusResponse response;
    EXPECT_TRUE(stub_->GetStatus(&ctx, v1::GetStatusRequest(), &response).ok());
    for (const auto& t : response.tasks()) {
      if (t.task_id() == id) return t;
    }
    return {};
  }

  bool WaitForState(const std::string& id, v1::TaskStatus::State state) {
    return testing::WaitUntil([&] { return StatusOf(id).state() == state; }, absl::Seconds(60));
  }

  std::unique_ptr<worker::WorkerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Worker::Stub> stub_;
};

TEST_F(WorkerServerTest, ServesHealthAndReportsItsLoad) {
  StartServer(2);
  // grpc.health.v1.Health/Check: SERVING (1).
  EXPECT_EQ(testing::HealthStatus(absl::StrCat("127.0.0.1:", server_->port())), 1);

  grpc::ClientContext ctx2;
  v1::GetStatusResponse status;
  ASSERT_TRUE(stub_->GetStatus(&ctx2, v1::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.load().slots(), 2);
  EXPECT_GT(status.load().cores(), 0);
  EXPECT_GT(status.load().free_memory_bytes(), 0);
  EXPECT_GT(status.load().free_disk_bytes(), 0);
  EXPECT_EQ(status.load().running_tasks(), 0);
}

TEST_F(WorkerServerTest, RunsATaskWhoseBatchIngestsAndIgnoresItSentAgain) {
  Generate(Survey(1, 4));
  Register("20071021");
  StartServer(2);
  v1::RunTaskRequest request = Request("night-20071021-cu3-attempt-1", 3, "20071021");
  v1::RunTaskResponse response;
  {  // Without the token (and no TLS here): refused, nothing queued.
    grpc::ClientContext anonymous;
    grpc::Status st = stub_->RunTask(&anonymous, request, &response);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(st.error_message(), HasSubstr("needs the operator token"));
    grpc::ClientContext wrong;
    wrong.AddMetadata("authorization", "Bearer not-the-token");
    st = stub_->RunTask(&wrong, request, &response);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(st.error_message(), HasSubstr("the token is wrong"));
    EXPECT_EQ(StatusOf(request.task_id()).state(), v1::TaskStatus::STATE_UNSPECIFIED);
  }
  ASSERT_TRUE(stub_->RunTask(Authorized().get(), request, &response).ok());
  EXPECT_TRUE(response.accepted());
  ASSERT_TRUE(WaitForState(request.task_id(), v1::TaskStatus::DONE))
      << StatusOf(request.task_id()).DebugString();
  v1::TaskStatus done = StatusOf(request.task_id());
  EXPECT_EQ(done.files_total(), 4);
  EXPECT_EQ(done.files_done(), 4);
  EXPECT_EQ(done.files_failed(), 0);
  EXPECT_TRUE(fs::exists(done.batch_dir() + "/manifest.json"));
  // Its log is in the database under the event it was given.
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.file_log f JOIN curation.step_log "
                               "s USING (step_id) WHERE s.cu_event_id = ", request.cu_event_id())),
            4);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, ingester::IngestOutcome::Kind::kIngested);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 4);
  // The same task again (a retry after a lost reply): not run twice.
  ASSERT_TRUE(stub_->RunTask(Authorized().get(), request, &response).ok());
  EXPECT_FALSE(response.accepted());
  // Its /metrics count the task and its files.
  testing::HttpResult metrics = testing::Http("GET", server_->metrics_port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("curator_worker_tasks{state=\"done\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_worker_files_processed_total 4\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_worker_slots 2\n"));
  EXPECT_EQ(testing::Http("POST", server_->metrics_port(), "/metrics").status, 405);
}

TEST_F(WorkerServerTest, CancelledTasksLeaveNothing) {
  Generate(Survey(1, 12, 40, 512));
  Register("20071021");
  StartServer(1);  // one slot: the second task waits in the queue
  v1::RunTaskRequest first = Request("a", 2, "20071021");
  v1::RunTaskRequest second = Request("b", 4, "20071021");
  for (const v1::TaskFile& f : first.files()) *second.add_files() = f;  // any valid files
  v1::RunTaskResponse r;
  ASSERT_TRUE(stub_->RunTask(Authorized().get(), first, &r).ok());
  ASSERT_TRUE(stub_->RunTask(Authorized().get(), second, &r).ok());
  v1::CancelTaskResponse cancelled;
  v1::CancelTaskRequest cancel;
  cancel.set_task_id("b");
  ASSERT_TRUE(stub_->CancelTask(Authorized().get(), cancel, &cancelled).ok());
  EXPECT_TRUE(cancelled.cancelled());
  EXPECT_EQ(StatusOf("b").state(), v1::TaskStatus::CANCELLED);
  ASSERT_TRUE(WaitForState("a", v1::TaskStatus::DONE));
  EXPECT_EQ(StatusOf("b").state(), v1::TaskStatus::CANCELLED);  // never ran
  // Only the first task's batch is in staging.
  int batches = 0;
  for (const auto& e : fs::directory_iterator(archive_ + "/staging/20071021")) {
    batches += e.path().filename().string().find("-cu2-") != std::string::npos;
    EXPECT_EQ(e.path().filename().string().find("-cu4-"), std::string::npos);
  }
  EXPECT_EQ(batches, 1);

  // A running task told to stop publishes nothing and removes its output.
  worker::TaskControl control;
  control.Cancel();
  auto images = archive::RegisteredImages(*conn_, "20071021");
  worker::TaskInput in{archive_, "20071021", 0, {}, 1, &control, {}};
  for (const auto& i : *images) in.images.push_back({i.multiframe_id, i.path, i.file_name, i.file_time_stamp, i.cat_name});
  auto out = worker::RunCu3(in);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kCancelled);
  for (const auto& e : fs::directory_iterator(archive_ + "/staging/20071021")) {
    EXPECT_EQ(e.path().filename().string().find("-cu3-"), std::string::npos) << e.path();
  }
}

TEST_F(WorkerServerTest, RefusesMalformedRequestsWithReasons) {
  Generate(Survey(1, 1));
  Register("20071021");
  StartServer(1);
  struct Case {
    std::function<void(v1::RunTaskRequest&)> spoil;
    const char* expected;
  } cases[] = {
      {[](v1::RunTaskRequest& r) { r.set_cu(static_cast<v1::Cu>(7)); },
       "unknown CU 7 (known: CU3, CU4, CU2, CU5)"},
      {[](v1::RunTaskRequest& r) { r.set_night("2007-10-21"); },
       "is not YYYYMMDD"},
      {[](v1::RunTaskRequest& r) { r.clear_files(); }, "the task has no files"},
      {[](v1::RunTaskRequest& r) {
         r.mutable_files(0)->set_path("/etc/passwd");
       },
       "'/etc/passwd' is not inside the archive root"},
      {[&](v1::RunTaskRequest& r) {
         r.mutable_files(0)->set_path(archive_ + "/incoming/../../../etc/passwd");
       },
       "is not inside the archive root"},
      {[](v1::RunTaskRequest& r) {
         r.mutable_files(0)->set_path("incoming/20071021/x.fit");
       },
       "'incoming/20071021/x.fit' is not inside the archive root"},
      {[&](v1::RunTaskRequest& r) {  // a symbolic link inside that leads out
         fs::create_symlink("/etc", archive_ + "/incoming/escape");
         r.mutable_files(0)->set_path(archive_ + "/incoming/escape/passwd");
       },
       "/incoming/escape/passwd' is not inside the archive root"},
  };
  for (const Case& c : cases) {
    v1::RunTaskRequest r = Request("x", 3, "20071021");
    c.spoil(r);
    v1::RunTaskResponse response;
    grpc::Status st = stub_->RunTask(Authorized().get(), r, &response);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
    EXPECT_THAT(st.error_message(), HasSubstr(c.expected));
  }
}

TEST_F(WorkerServerTest, NamesThatAreNotPlainFileNamesAreRefusedAndNothingIsWritten) {
  Generate(Survey(1, 1));
  Register("20071021");
  StartServer(1);
  // A caller with the token names a real image but a file_name that would
  // put CU2's previews elsewhere (jpeg/<night>/../../etc/x_2.jpg, and with
  // one "../" more outside the archive).
  const fs::path escape = fs::path(archive_).parent_path() / "etc";
  struct Case {
    std::function<void(v1::TaskFile&)> spoil;
    const char* expected;
  } cases[] = {
      {[](v1::TaskFile& f) { f.set_file_name("../../etc/x"); },
       "file_name '../../etc/x' is not a plain file name: it contains '/'"},
      {[](v1::TaskFile& f) { f.set_file_name(".."); }, "file_name '..' is not a plain file name"},
      {[](v1::TaskFile& f) { f.set_file_name(std::string("x\0y.fit", 7)); },
       "file_name 'x\\x00y.fit' is not a plain file name: it contains a NUL byte"},
      {[](v1::TaskFile& f) { f.set_cat_name("sub/w20071021_00001_cat.fits"); },
       "cat_name 'sub/w20071021_00001_cat.fits' is not a plain file name: it contains '/'"},
  };
  int n = 0;
  for (const Case& c : cases) {
    for (int cu : {2, 3}) {
      v1::RunTaskRequest r = Request(absl::StrCat("hostile-", n++), cu, "20071021");
      c.spoil(*r.mutable_files(0));
      v1::RunTaskResponse response;
      grpc::Status st = stub_->RunTask(Authorized().get(), r, &response);
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
      EXPECT_THAT(st.error_message(), HasSubstr(c.expected));
      EXPECT_EQ(StatusOf(r.task_id()).state(), v1::TaskStatus::STATE_UNSPECIFIED);  // not queued
    }
  }
  EXPECT_FALSE(fs::exists(escape));
  EXPECT_FALSE(fs::exists(archive_ + "/etc"));
  EXPECT_FALSE(fs::exists(archive_ + "/jpeg"));
  EXPECT_FALSE(fs::exists(archive_ + "/staging"));

  // CU2 itself, called without the server's checks: the file fails by
  // name, no preview is written anywhere.
  auto images = archive::RegisteredImages(*conn_, "20071021");
  ASSERT_TRUE(images.ok());
  std::vector<worker::ImageInput> in;
  for (const auto& i : *images) {
    in.push_back({i.multiframe_id, i.path, "../../../etc/x.fit", i.file_time_stamp, ""});
  }
  auto out = worker::RunCu2({archive_, "20071021", 0, in, 1, {}, nullptr, {}});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->manifest.failures_size(), 1);
  EXPECT_THAT(out->manifest.failures(0).message(),
              HasSubstr("file_name '../../../etc/x.fit' is not a plain file name"));
  EXPECT_FALSE(fs::exists(escape));
  EXPECT_TRUE(fs::is_empty(archive_ + "/jpeg/20071021"));
}

}  // namespace
}  // namespace curator
