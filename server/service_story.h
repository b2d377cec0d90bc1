/*
 * service_story.h - what the ListStories handler (service_story.c) keeps
 * to itself: its page bound. The handlers are declared in service.h.
 *
 * ListStories walks the stories from the most recently seen
 * (as_store_walk_stories) and keeps those whose articles together satisfy
 * the filter. A `since` bound stops the walk; the other conditions are
 * checked per story, and a call looks at most AS_STORY_SCAN stories: a page
 * can then be short, with next_cursor set where the walk stopped. Cursors:
 * a version byte, then the last position (last_seen time key, story id).
 */
#ifndef AS_SERVICE_STORY_H
#define AS_SERVICE_STORY_H

/* Stories looked at per ListStories call at most. */
#define AS_STORY_SCAN 20000

#endif
