# samples/predict.cmake: the predict sample (public C API only). include() it from
# samples/CMakeLists.txt; the target links the cltrain library alone.
add_executable(cltrain_sample_predict ${CMAKE_CURRENT_LIST_DIR}/predict.c)
set_target_properties(cltrain_sample_predict PROPERTIES OUTPUT_NAME predict LINKER_LANGUAGE CXX)
target_link_libraries(cltrain_sample_predict PRIVATE cltrain)
