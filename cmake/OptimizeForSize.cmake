# The one place that says which code is optimized for size (-Os) rather than speed.
#
# kairosd's text is resident almost whole once it runs, so code that never runs per job run
# (start-up, reload, parsing, the control socket, the schema's migrations) costs memory for
# nothing when optimized for speed; docs/PERFORMANCE.md ("RSS at rest") has the figures.
# Code on the per-run path (the loop, spawning, cron evaluation, history writes) keeps the
# build type's optimization.
#
#   kairos_optimize_for_size(TARGET)                  every source of TARGET
#   kairos_optimize_for_size(TARGET SOURCES a.cc ...) only these sources of TARGET
function(kairos_optimize_for_size target)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(ARG_SOURCES)
    get_target_property(dir ${target} SOURCE_DIR)
    set_source_files_properties(${ARG_SOURCES} DIRECTORY ${dir} TARGET_DIRECTORY ${target}
      PROPERTIES COMPILE_OPTIONS -Os)
  else()
    target_compile_options(${target} PRIVATE -Os)
  endif()
endfunction()
