# cltrain_check_private_includes(ROOT): stops with an error naming the file and the line when a
# file of the repository at ROOT (module/, apps/, test/, samples/) includes model/model_impl.h,
# struct cltrain_model itself, anywhere but in module/src/model/'s C files: the rest of the
# library, the tools and the tests read a model through model/model.h's functions.
# module/CMakeLists.txt runs it at configure time; test/cli/private_includes.sh runs it as a
# script (cmake -DROOT=... -P this file).
function(cltrain_check_private_includes root)
  set(files "")
  foreach(dir module apps test samples)
    file(GLOB_RECURSE found ${root}/${dir}/*.c ${root}/${dir}/*.cpp ${root}/${dir}/*.h ${root}/${dir}/*.hpp)
    list(APPEND files ${found})
  endforeach()
  foreach(f ${files})
    file(RELATIVE_PATH rel ${root} ${f})
    if(rel MATCHES "^module/src/model/[^/]+\\.c$")
      continue()
    endif()
    file(STRINGS ${f} includes REGEX "^[ \t]*#[ \t]*include.*model_impl\\.h")
    foreach(line ${includes})
      message(FATAL_ERROR "${f}: '${line}' includes struct cltrain_model's private header; outside "
              "module/src/model/*.c, read the model through model/model.h's functions")
    endforeach()
  endforeach()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED ROOT)
  cltrain_check_private_includes(${ROOT})
endif()
