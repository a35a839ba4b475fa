# The dashboard: web/ (static files) plus uPlot's dist files from node_modules (installed by
# scripts/setup-deps.sh from package-lock.json) are copied into <build>/share/dojo/web, which
# is where `dojo serve` looks by default (<dir of the dojo binary>/../share/dojo/web), and
# installed to <prefix>/share/dojo/web.
set(DOJO_WEB_DIR ${PROJECT_BINARY_DIR}/share/dojo/web)
file(GLOB_RECURSE dojo_web_sources CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}/web
     ${PROJECT_SOURCE_DIR}/web/*.html ${PROJECT_SOURCE_DIR}/web/*.js ${PROJECT_SOURCE_DIR}/web/*.css)
set(dojo_uplot_dir ${PROJECT_SOURCE_DIR}/node_modules/uplot/dist)
set(dojo_web_outputs)
foreach(f ${dojo_web_sources})
  add_custom_command(OUTPUT ${DOJO_WEB_DIR}/${f}
                     COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/web/${f} ${DOJO_WEB_DIR}/${f}
                     DEPENDS ${PROJECT_SOURCE_DIR}/web/${f} VERBATIM)
  list(APPEND dojo_web_outputs ${DOJO_WEB_DIR}/${f})
endforeach()
foreach(f uPlot.esm.js uPlot.min.css)
  add_custom_command(OUTPUT ${DOJO_WEB_DIR}/vendor/${f}
                     COMMAND ${CMAKE_COMMAND} -E copy ${dojo_uplot_dir}/${f} ${DOJO_WEB_DIR}/vendor/${f}
                     DEPENDS ${dojo_uplot_dir}/${f}
                     COMMENT "dashboard: vendor/${f} from node_modules (run scripts/setup-deps.sh if it is missing)"
                     VERBATIM)
  list(APPEND dojo_web_outputs ${DOJO_WEB_DIR}/vendor/${f})
endforeach()
add_custom_command(OUTPUT ${DOJO_WEB_DIR}/vendor/uPlot.LICENSE
                   COMMAND ${CMAKE_COMMAND} -E copy ${PROJECT_SOURCE_DIR}/node_modules/uplot/LICENSE ${DOJO_WEB_DIR}/vendor/uPlot.LICENSE
                   DEPENDS ${PROJECT_SOURCE_DIR}/node_modules/uplot/LICENSE VERBATIM)
list(APPEND dojo_web_outputs ${DOJO_WEB_DIR}/vendor/uPlot.LICENSE)
add_custom_target(dojo_web ALL DEPENDS ${dojo_web_outputs})
if(TARGET dojo)
  add_dependencies(dojo dojo_web)  # the server always finds its page next to it
endif()
install(DIRECTORY ${DOJO_WEB_DIR} DESTINATION share/dojo)
