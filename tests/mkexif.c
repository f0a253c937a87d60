/*
 * mkexif IN OUT [FIELD=VALUE ...]: copy an image with metadata set, for
 * tests that need EXIF the vips command line cannot write. orientation
 * takes a number; any other field (exif-ifd0-Model, ...) a string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

int
main(int argc, char **argv)
{
	VipsImage	*in, *out;
	char		*eq;
	int		 i;

	if (argc < 3 || VIPS_INIT(argv[0]) != 0) {
		fprintf(stderr, "usage: mkexif IN OUT [FIELD=VALUE ...]\n");
		return (2);
	}
	if ((in = vips_image_new_from_file(argv[1], NULL)) == NULL ||
	    vips_copy(in, &out, NULL) != 0) {
		fprintf(stderr, "mkexif: %s\n", vips_error_buffer());
		return (1);
	}
	for (i = 3; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL)
			return (2);
		*eq = '\0';
		if (strcmp(argv[i], "orientation") == 0)
			vips_image_set_int(out, argv[i], atoi(eq + 1));
		else
			vips_image_set_string(out, argv[i], eq + 1);
	}
	if (vips_image_write_to_file(out, argv[2], NULL) != 0) {
		fprintf(stderr, "mkexif: %s\n", vips_error_buffer());
		return (1);
	}
	g_object_unref(in);
	g_object_unref(out);
	return (0);
}
