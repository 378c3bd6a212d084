# Writes OUTPUT, a C++ file defining curator::migrations::Embedded(): every
# INPUTS file (deploy/migrations/NNNN_name.sql) as {version, name, sql}.
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "")
foreach(input IN LISTS INPUTS)
  get_filename_component(base "${input}" NAME_WE)
  string(REGEX MATCH "^([0-9]+)_(.*)$" matched "${base}")
  if(NOT matched)
    message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${input}")
  endif()
  set(version "${CMAKE_MATCH_1}")
  math(EXPR version "${version} + 0")
  set(name "${CMAKE_MATCH_2}")
  file(READ "${input}" sql)
  string(APPEND body "      {${version}, \"${name}\", R\"curator_sql(${sql})curator_sql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from deploy/migrations by cmake/EmbedMigrations.cmake.
#include \"db/migrations.h\"

namespace curator::migrations {

const std::vector<Migration>& Embedded() {
  static const std::vector<Migration>* all = new std::vector<Migration>{
${body}  };
  return *all;
}

}  // namespace curator::migrations
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
