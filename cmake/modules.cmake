# Module boundaries, enforced by the compiler rather than by review.
#
# Sources include each other as "module/header.h". Were the source root on the
# include path, any file could include any other module's internals. Instead every
# module gets two include roots in the build tree, made of symbolic links:
#   include/<module>/public/<module>/<header>  one link per interface header
#   include/<module>/private/<module>          a link to the whole module directory
# The library puts the public root on its INTERFACE and the private root on its
# own include path, and modules link each other PRIVATE. So "geo/table.h" from dnsd
# is "No such file or directory", while "geo/routing.h" resolves. Links (not copies)
# keep the headers edited in place, and the source tree keeps its layout.
#
# gslb_module(<target> <dir> INTERFACE <header>...)
function(gslb_module target dir)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "INTERFACE")
  set(root ${PROJECT_BINARY_DIR}/include/${dir})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root}/public/${dir} ${root}/private)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${dir} ${root}/private/${dir} SYMBOLIC)
  foreach(header IN LISTS arg_INTERFACE)
    if(NOT EXISTS ${PROJECT_SOURCE_DIR}/${dir}/${header})
      message(FATAL_ERROR "gslb_module(${target}): no interface header ${dir}/${header}")
    endif()
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${dir}/${header} ${root}/public/${dir}/${header} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC ${root}/public PRIVATE ${root}/private)
  set_target_properties(${target} PROPERTIES GSLB_PRIVATE_ROOT ${root}/private)
endfunction()

# A module's own unit tests, fuzz targets and benchmarks test its internals: they
# are compiled like the module itself (its private root and its dependencies).
# gslb_module_internals(<target> <module target>)
function(gslb_module_internals target module)
  get_target_property(root ${module} GSLB_PRIVATE_ROOT)
  get_target_property(module_deps ${module} LINK_LIBRARIES)
  # An imported target found in the module's directory only (pkg_check_modules)
  # is not visible here; the module's library still links it.
  set(deps "")
  foreach(dep IN LISTS module_deps)
    if(TARGET ${dep} OR NOT dep MATCHES "::")
      list(APPEND deps ${dep})
    endif()
  endforeach()
  target_include_directories(${target} PRIVATE ${root})
  target_link_libraries(${target} PRIVATE ${module} ${deps})
endfunction()

# A target that puts the source root on its include path would reopen every
# module's internals to every file; refused at configure time.
function(gslb_check_include_roots dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS targets)
    foreach(property INCLUDE_DIRECTORIES INTERFACE_INCLUDE_DIRECTORIES)
      get_target_property(dirs ${target} ${property})
      if(dirs AND (PROJECT_SOURCE_DIR IN_LIST dirs OR "${PROJECT_SOURCE_DIR}/" IN_LIST dirs))
        message(FATAL_ERROR "${target}: the source root is on its include path; "
                            "use gslb_module() / gslb_module_internals() (cmake/modules.cmake)")
      endif()
    endforeach()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(subdir IN LISTS subdirs)
    gslb_check_include_roots(${subdir})
  endforeach()
endfunction()
