#include "base/signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>

namespace curator {
namespace {

sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSet();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int WaitForTerminationSignalFor(int milliseconds) {
  sigset_t set = TerminationSet();
  timespec timeout{milliseconds / 1000, (milliseconds % 1000) * 1000000L};
  while (true) {
    const int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig > 0) return sig;
    if (errno != EINTR) return 0;  // EAGAIN: the time is up
  }
}

}  // namespace curator
