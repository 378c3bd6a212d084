# Writes OUTPUT, INPUT compressed the way Debian wants manual pages and
# changelogs (gzip -9n: the most compression, and no file name or time
# stamp, so the same text gives the same bytes). With COMMAND (a list
# separated by |), INPUT is first written from that command's output:
# a page a program prints about itself.
if(DEFINED COMMAND)
  string(REPLACE "|" ";" COMMAND "${COMMAND}")
  execute_process(COMMAND ${COMMAND} OUTPUT_FILE "${INPUT}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${COMMAND} failed (${rc})")
  endif()
endif()
execute_process(COMMAND gzip -9nc "${INPUT}" OUTPUT_FILE "${OUTPUT}.tmp" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip ${INPUT} failed (${rc})")
endif()
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
