# `cmake --install build --prefix P`: the headers, libcltrain (shared, or static with
# CLTRAIN_SHARED=OFF), the cltrain tool, the samples' sources, a CMake package
# (find_package(cltrain) -> cltrain::cltrain) and cltrain.pc for pkg-config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(FILES ${CMAKE_SOURCE_DIR}/module/include/opencv2/cltrain.h
              ${CMAKE_SOURCE_DIR}/module/include/opencv2/cltrain.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/opencv2)
install(TARGETS cltrain EXPORT cltrainTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS cltrain_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/samples/CMakeLists.txt ${CMAKE_SOURCE_DIR}/samples/finetune.c
              ${CMAKE_SOURCE_DIR}/samples/feature_extractor.c ${CMAKE_SOURCE_DIR}/samples/predict.c
        DESTINATION ${CMAKE_INSTALL_DATADIR}/cltrain/samples)

set(CLTRAIN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/cltrain)
install(EXPORT cltrainTargets NAMESPACE cltrain:: DESTINATION ${CLTRAIN_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/cltrainConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cltrainConfig.cmake
                              INSTALL_DESTINATION ${CLTRAIN_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cltrainConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cltrainConfig.cmake ${CMAKE_BINARY_DIR}/cltrainConfigVersion.cmake
        DESTINATION ${CLTRAIN_CMAKE_DIR})

# pkg-config: a shared libcltrain needs only itself (and OpenCV's headers for cltrain.hpp); a
# static one lists what it links in Libs.private, for `pkg-config --static`.
if(CLTRAIN_SHARED)
  set(CLTRAIN_PC_LIBS_PRIVATE "")
else()
  set(CLTRAIN_PC_LIBS_PRIVATE "-lclblast -lonnx -lonnx_proto -lprotobuf -lpthread -ldl -lm -lstdc++")
endif()
file(RELATIVE_PATH CLTRAIN_PC_UP /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" CLTRAIN_PC_UP "${CLTRAIN_PC_UP}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/cltrain.pc.in ${CMAKE_BINARY_DIR}/cltrain.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cltrain.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
