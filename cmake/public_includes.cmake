# cltrain_check_public_includes(DIR SRC): stops with an error naming the file and the line when
# a file in DIR includes one of the library's internal headers (a header under SRC, by name or
# by a path through module/src). apps/CMakeLists.txt runs it over apps/cltrain at configure
# time; test/cli/public_includes.sh runs it as a script (cmake -DDIR=... -DSRC=... -P this file).
function(cltrain_check_public_includes dir src)
  file(GLOB_RECURSE internal RELATIVE ${src} ${src}/*.h ${src}/*.hpp)
  file(GLOB files ${dir}/*)
  foreach(f ${files})
    file(STRINGS ${f} includes REGEX "^[ \t]*#[ \t]*include")
    foreach(line ${includes})
      set(hit "")
      if(line MATCHES "module/src/")
        set(hit "module/src/")
      endif()
      foreach(h ${internal})
        get_filename_component(name ${h} NAME)
        if(line MATCHES "[\"</]${name}[\">]")
          set(hit ${h})
        endif()
      endforeach()
      if(hit)
        message(FATAL_ERROR "${f}: '${line}' includes the library's internal header ${hit}; the "
                "cltrain tool uses opencv2/cltrain.h alone (a developer command goes to apps/cltrain-dev)")
      endif()
    endforeach()
  endforeach()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND DEFINED DIR)
  cltrain_check_public_includes(${DIR} ${SRC})
endif()
