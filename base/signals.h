// Graceful shutdown on SIGTERM / SIGINT without work in a signal handler:
// main() blocks the signals before starting any thread, and one dedicated
// thread takes them with sigwait and starts the shutdown.
#ifndef CURATOR_BASE_SIGNALS_H_
#define CURATOR_BASE_SIGNALS_H_

namespace curator {

// Blocks SIGTERM and SIGINT in the calling thread and in threads it starts
// afterwards.
void BlockTerminationSignals();

// Waits for SIGTERM or SIGINT (blocked beforehand); returns which.
int WaitForTerminationSignal();

// The same for at most `milliseconds`: 0 if none came.
int WaitForTerminationSignalFor(int milliseconds);

}  // namespace curator

#endif  // CURATOR_BASE_SIGNALS_H_
